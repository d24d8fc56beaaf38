package harness_sandbox;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.FilePermission;
import java.io.IOException;
import java.io.PrintStream;
import java.io.StringWriter;
import java.lang.reflect.ReflectPermission;
import java.io.OutputStream;
import java.net.URI;
import java.security.cert.Certificate;
import java.util.HashMap;
import java.util.Map;
import javax.tools.FileObject;
import javax.tools.ForwardingJavaFileManager;
import javax.tools.SimpleJavaFileObject;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.CodeSource;
import java.security.Permission;
import java.security.PermissionCollection;
import java.security.Permissions;
import java.security.Policy;
import java.security.ProtectionDomain;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.PropertyPermission;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.Diagnostic;
import javax.tools.DiagnosticCollector;
import javax.tools.JavaCompiler;
import javax.tools.JavaFileObject;
import javax.tools.StandardJavaFileManager;
import javax.tools.ToolProvider;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * The harness's trusted JUnit 5 runner for one NaturalCodeBench Java check (see harness/sandbox/java.py).
 *
 * <p>Before any untrusted class exists it reads the nonce and the test class's name from stdin, compiles the test
 * class in-process (the solution's types found through the source path, as upstream's javac call does; annotation
 * processing off), then installs a Policy and the Security Manager: the JDK, the JUnit jars and this class keep every
 * permission, while the classes compiled from the work folder (kept in memory, defined by a loader of their own)
 * may only read and write inside the work folder, read system properties and replace System.out (tests capture
 * output; the verdict goes to the launcher's own stream). So they cannot
 * exit the JVM, replace System.out, make private members accessible, read the nonce, write elsewhere, start
 * processes or open sockets. After the tests it prints the one verdict line that carries the nonce and halts.
 */
public final class JUnitVerdict {
    private static final String MARK = "HARNESS-JUNIT-VERDICT";

    private JUnitVerdict() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        String[] input = readStdin();
        if (input.length < 2) {
            System.err.println("harness launcher: stdin must hold the nonce and the test class");
            Runtime.getRuntime().halt(2);
        }
        String nonce = input[0].trim();
        String testClass = input[1].trim();
        // a JDK without the Security Manager (24+) runs only when the harness was told to (--allow-weak-sandbox)
        boolean confine = input.length < 3 || !input[2].trim().equals("unconfined");
        Path work = Paths.get("").toAbsolutePath();
        Path src = work.resolve(".src");
        Files.createDirectories(src);
        Files.createDirectories(work.resolve("tmp"));
        try (var files = Files.list(work)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                if (p.getFileName().toString().endsWith(".java") && Files.isRegularFile(p)) {
                    Files.move(p, src.resolve(p.getFileName()));
                }
            }
        }
        Map<String, byte[]> classes = new HashMap<>();
        String problem = compile(src, classes, testClass);
        if (problem == null) {
            problem = shadowing(src, testClass);
        }
        if (problem != null) {
            verdict(out, nonce, 0, 0, 0, problem);
        }

        Compiled loader = new Compiled(classes, work, JUnitVerdict.class.getClassLoader());
        if (confine) {
            Policy.setPolicy(new Confined(loader, work));
        }
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        Failures failures = new Failures();
        Set<Thread> before = new HashSet<>(Thread.getAllStackTraces().keySet());
        Class<?> tests = Class.forName(testClass, false, loader);
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(tests)).build();
        if (confine) {
            System.setSecurityManager(new SecurityManager());
        }
        Thread.currentThread().setContextClassLoader(loader);
        launcher.execute(request, summary, failures);
        Thread.currentThread().setContextClassLoader(JUnitVerdict.class.getClassLoader());
        TestExecutionSummary s = summary.getSummary();
        String reason = failures.text();
        List<String> left = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (!before.contains(t) && t.isAlive() && t != Thread.currentThread()) {
                left.add(t.getName());
            }
        }
        long succeeded = s.getTestsSucceededCount();
        if (!left.isEmpty()) {
            reason = "the code left threads running: " + String.join(", ", left) + (reason.isEmpty() ? "" : "; " + reason);
            succeeded = 0;
        }
        verdict(out, nonce, s.getTestsFoundCount(), succeeded, s.getTestsFailedCount(), reason);
    }

    /** The verdict line, then the JVM halts (no shutdown hook, no untrusted thread runs on). */
    private static void verdict(PrintStream out, String nonce, long found, long succeeded, long failed, String reason) {
        String text = reason.length() > 4000 ? reason.substring(0, 4000) : reason;
        out.println(MARK + " " + nonce + " " + found + " " + succeeded + " " + failed + " "
                + Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8)));
        out.flush();
        Runtime.getRuntime().halt(0);
    }

    private static String[] readStdin() throws IOException {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[256];
        try (FileInputStream in = new FileInputStream(FileDescriptor.in)) {
            int n;
            while (buf.size() < 4096 && (n = in.read(chunk)) > 0) {
                buf.write(chunk, 0, n);
            }
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        Arrays.fill(chunk, (byte) 0);
        return text.split("\n");
    }

    /**
     * javac on the test class, the solution's types found through the source path; the class files are kept in
     * memory (nothing on disk for the code to replace or delete). Null when it compiled, else javac's errors.
     */
    private static String compile(Path src, Map<String, byte[]> classes, String testClass) throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        if (javac == null) {
            return "no Java compiler in this runtime (a JDK is needed, not a JRE)";
        }
        DiagnosticCollector<JavaFileObject> diagnostics = new DiagnosticCollector<>();
        StandardJavaFileManager files = javac.getStandardFileManager(diagnostics, Locale.ROOT, StandardCharsets.UTF_8);
        List<String> options = List.of("-proc:none", "-implicit:class", "-nowarn", "-encoding", "UTF-8",
                "-sourcepath", src.toString(), "-cp", System.getProperty("java.class.path"));
        Path test = src.resolve(testClass + ".java");
        StringWriter log = new StringWriter();
        ForwardingJavaFileManager<StandardJavaFileManager> memory = new ForwardingJavaFileManager<>(files) {
            @Override
            public JavaFileObject getJavaFileForOutput(Location location, String name, JavaFileObject.Kind kind,
                    FileObject sibling) {
                return new SimpleJavaFileObject(URI.create("mem:///" + name.replace('.', '/') + kind.extension), kind) {
                    @Override
                    public OutputStream openOutputStream() {
                        return new ByteArrayOutputStream() {
                            @Override
                            public void close() {
                                classes.put(name, toByteArray());
                            }
                        };
                    }
                };
            }
        };
        boolean ok = javac.getTask(log, memory, diagnostics, options, null,
                files.getJavaFileObjects(test.toFile())).call();
        memory.close();
        if (ok) {
            return null;
        }
        StringBuilder why = new StringBuilder("compilation error:");
        for (Diagnostic<? extends JavaFileObject> d : diagnostics.getDiagnostics()) {
            if (d.getKind() == Diagnostic.Kind.ERROR) {
                String file = d.getSource() == null ? "" : new File(d.getSource().getName()).getName() + ":" + d.getLineNumber() + ": ";
                why.append("\n").append(file).append(d.getMessage(Locale.ROOT));
            }
        }
        return why.toString();
    }

    private static final Pattern ON_DEMAND = Pattern.compile("^\\s*import\\s+([\\w.]+)\\.\\*\\s*;", Pattern.MULTILINE);

    /**
     * A solution type in the default package hides a type of the same simple name that the tests import on demand
     * (java.lang.* always): a class Assertions or Integer of the model's making would answer the tests' calls.
     */
    private static String shadowing(Path src, String testClass) throws IOException {
        String tests = Files.readString(src.resolve(testClass + ".java"), StandardCharsets.UTF_8);
        List<String> packages = new ArrayList<>(List.of("java.lang"));
        Matcher m = ON_DEMAND.matcher(tests);
        while (m.find()) {
            packages.add(m.group(1));
        }
        try (var list = Files.list(src)) {
            for (Path p : (Iterable<Path>) list::iterator) {
                String name = p.getFileName().toString().replaceFirst("\\.java$", "");
                if (name.equals(testClass) || !Pattern.compile("\\b" + Pattern.quote(name) + "\\b").matcher(tests).find()) {
                    continue;
                }
                for (String pkg : packages) {
                    try {
                        Class.forName(pkg + "." + name, false, JUnitVerdict.class.getClassLoader());
                        return "the solution declares " + name + ", which hides " + pkg + "." + name + " that the tests use";
                    } catch (ClassNotFoundException | LinkageError e) {
                        // not a type there: fine
                    }
                }
            }
        }
        return null;
    }

    /** The compiled classes of the work folder (solution and tests), defined from memory in a domain of their own. */
    private static final class Compiled extends ClassLoader {
        private final Map<String, byte[]> classes;
        private final ProtectionDomain domain;

        Compiled(Map<String, byte[]> classes, Path work, ClassLoader parent) throws IOException {
            super(parent);
            this.classes = classes;
            this.domain = new ProtectionDomain(new CodeSource(work.toUri().toURL(), (Certificate[]) null), null, this,
                    null);
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            byte[] b = classes.get(name);
            if (b == null) {
                throw new ClassNotFoundException(name);
            }
            return defineClass(name, b, 0, b.length, domain);
        }
    }

    /** The first failures' names and messages, for the reason. */
    private static final class Failures implements TestExecutionListener {
        private final StringBuilder text = new StringBuilder();
        private int count;

        @Override
        public void executionFinished(TestIdentifier id, TestExecutionResult result) {
            if (result.getStatus() == TestExecutionResult.Status.SUCCESSFUL || count >= 5) {
                return;
            }
            count++;
            String why = result.getThrowable().map(Throwable::toString).orElse(result.getStatus().toString());
            if (text.length() > 0) {
                text.append("; ");
            }
            text.append(id.getDisplayName()).append(": ").append(why.length() > 300 ? why.substring(0, 300) : why);
        }

        String text() {
            return text.toString();
        }
    }

    /** Every permission for everything but the classes of `untrusted`, which get only the few below. */
    private static final class Confined extends Policy {
        private final ClassLoader untrusted;
        private final Permissions granted = new Permissions();

        Confined(ClassLoader untrusted, Path work) {
            this.untrusted = untrusted;
            String w = work.toString();
            granted.add(new PropertyPermission("*", "read"));
            // the work folder is the sandbox's private tmpfs, and the compiled classes live in memory
            granted.add(new FilePermission(w, "read"));
            granted.add(new FilePermission(w + File.separator + "-", "read,write,delete"));
            // the same by relative names: FilePermission compares paths as written, not canonical ones
            granted.add(new FilePermission("-", "read,write,delete"));
            granted.add(new RuntimePermission("accessDeclaredMembers"));
            // tests capture output with System.setOut; harmless here, since the verdict goes to our own stream
            granted.add(new RuntimePermission("setIO"));
            granted.setReadOnly();
            // resolve what implies() needs now, so no class loads while the Security Manager asks
            granted.implies(new FilePermission(w, "read"));
            granted.implies(new ReflectPermission("suppressAccessChecks"));
        }

        @Override
        public boolean implies(ProtectionDomain domain, Permission permission) {
            if (domain != null && domain.getClassLoader() == untrusted) {
                return granted.implies(permission);
            }
            return true;
        }

        @Override
        public PermissionCollection getPermissions(CodeSource codesource) {
            return new Permissions();
        }
    }
}
