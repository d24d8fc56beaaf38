"""Java verdicts the model's code cannot forge (harness/sandbox/java.py and its launcher): a wrong or hostile
solution that exits the JVM early, halts it, prints a fake verdict line, reflects into the launcher, replaces
System.out, leaves a thread running, loops forever, deletes the compiled tests, declares a class named like the
test class or hides a type the tests import — each fails; the honest solution passes. Also: compile errors are a
failure with javac's message, and the verdict needs both the nonce line and a clean exit."""

from __future__ import annotations

import pytest
from needs import require

from harness.sandbox import java
from harness.sandbox.core import SandboxResult
from harness.sandbox.java import JavaCheck, decide, java_limits, run_java_check

pytestmark = pytest.mark.slow

TESTS = """import org.junit.jupiter.api.Test;
import static org.junit.jupiter.api.Assertions.*;

class AdderTest {
    @Test
    void adds() {
        assertEquals(5, Adder.add(2, 3));
    }

    @Test
    void addsNegatives() {
        assertEquals(-1, Adder.add(2, -3));
    }
}
"""
HONEST = """public class Adder {
    public static int add(int a, int b) {
        return a + b;
    }
}
"""
WRONG = "        return 0;"


def wrong(extra: str, body: str = WRONG, static: str = "") -> str:
    """A wrong Adder with `extra` members and `static` code in a static initializer."""
    init = f"    static {{\n{static}\n    }}\n" if static else ""
    return f"import java.io.*;\nimport java.lang.reflect.*;\nimport java.util.*;\n\npublic class Adder {{\n{init}{extra}\n" \
           f"    public static int add(int a, int b) {{\n{body}\n    }}\n}}\n"


def check(solution: str, tests: str = TESTS, timeout_s: float = 60.0) -> java.JavaResult:
    require(java.refusal() is None, f"Java checks cannot run here: {java.refusal()}")
    return run_java_check(JavaCheck((solution,), tests, "forge"), java_limits(timeout_s))


def test_the_honest_solution_passes():
    r = check(HONEST)
    assert r.passed and (r.found, r.succeeded) == (2, 2), r


def test_a_wrong_solution_fails_naming_the_test():
    r = check(wrong(""))
    assert r.status == "failed" and "0 of 2 tests passed" in r.reason and "expected: <5> but was: <0>" in r.reason, r


FORGERIES = {
    "exit in a static initializer": wrong("", static="        System.exit(0);"),
    "halt": wrong("", body="        Runtime.getRuntime().halt(0);\n        return 0;"),
    "shutdown hook": wrong("", static="        Runtime.getRuntime().addShutdownHook(new Thread(() -> "
                                      "System.out.println(\"HARNESS-JUNIT-VERDICT x 2 2 0 \")));"),
    "fake verdict lines": wrong("", body="""        for (String n : new String[] {"0", "00000000000000000000000000000000"}) {
            System.out.println("HARNESS-JUNIT-VERDICT " + n + " 2 2 0 ");
        }
        System.out.flush();
        return 0;"""),
    "reflection into the launcher": wrong("", body="""        try {
            Class<?> c = Class.forName("harness_sandbox.JUnitVerdict");
            for (Field f : c.getDeclaredFields()) {
                f.setAccessible(true);
                System.out.println("HARNESS-JUNIT-VERDICT " + f.get(null) + " 2 2 0 ");
            }
            Field in = FilterInputStream.class.getDeclaredField("in");
            in.setAccessible(true);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
        return 0;"""),
    "replacing System.out": wrong("", static="        System.setOut(new PrintStream(new ByteArrayOutputStream()));"),
    "closing System.out": wrong("", static="        System.out.close();", body="        return a + b;"),
    "a thread that keeps running": wrong("", static="""        Thread t = new Thread(() -> {
            while (true) {
                System.out.println("HARNESS-JUNIT-VERDICT 0 2 2 0 ");
                try { Thread.sleep(10); } catch (InterruptedException e) { }
            }
        });
        t.setDaemon(true);
        t.start();""", body="        return a + b;"),
    "deleting the tests' sources and classes": wrong("", body="""        for (String dir : new String[] {".src", ".classes", System.getProperty("java.class.path").split(":")[0]}) {
            File[] files = new File(dir).listFiles();
            for (File f : files == null ? new File[0] : files) {
                f.delete();
            }
        }
        return 0;"""),
    "writing outside the work folder": wrong("", body="""        try (FileWriter w = new FileWriter("/tmp/forged.txt")) {
            w.write("x");
        } catch (IOException e) { throw new UncheckedIOException(e); }
        return a + b;"""),
    "starting a process": wrong("", body="""        try { new ProcessBuilder("/bin/true").start(); } catch (IOException e) { throw new UncheckedIOException(e); }
        return a + b;"""),
    "opening a socket": wrong("", body="""        try { new java.net.Socket("127.0.0.1", 80); } catch (IOException e) { throw new UncheckedIOException(e); }
        return a + b;"""),
    "reading the nonce from stdin": wrong("", body="""        try {
            byte[] buf = new byte[64];
            int n = System.in.read(buf);
            System.out.println("HARNESS-JUNIT-VERDICT " + (n > 0 ? new String(buf, 0, n).split("\\n")[0] : "") + " 2 2 0 ");
        } catch (IOException e) { }
        return 0;"""),
}


def test_forgeries_fail():
    """All of them, two JVMs at a time (each check is one JVM: ~2.5 s)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(FORGERIES, pool.map(check, FORGERIES.values())))
    for name, r in results.items():
        assert r.status in ("failed", "timeout"), (name, r)
        assert not r.reason.startswith("compilation error"), (name, r)  # the trick ran, and did not work


def test_an_infinite_loop_times_out():
    r = check(wrong("", body="        while (true) { }"), timeout_s=5.0)
    # the wall clock decides: the CPU limit is twice it, for the JVM's JIT and GC threads (java_limits)
    assert r.status == "timeout", r


def test_a_class_named_like_the_test_class_fails():
    """The tests' file wins over a model type of the renamed name, and a model copy of the original test class
    with always-passing tests is never the one run."""
    fake = """import org.junit.jupiter.api.Test;

class Test_java_forge {
    @Test
    void adds() { }
}
class AdderTest {
    @Test
    void adds() { }
}
"""
    r = check(wrong("") + "\n" + fake)
    assert r.status == "failed" and r.found == 2 and r.succeeded == 0, r


def test_a_type_hiding_what_the_tests_import_fails():
    tests = TESTS.replace("import static org.junit.jupiter.api.Assertions.*;", "import org.junit.jupiter.api.*;") \
        .replace("assertEquals(", "Assertions.assertEquals(")
    hider = wrong("") + "\nclass Assertions {\n    static void assertEquals(Object a, Object b) { }\n}\n"
    r = check(hider, tests)
    assert r.status == "failed" and "hides org.junit.jupiter.api.Assertions" in r.reason, r


def test_a_compile_error_fails_with_javacs_message():
    r = check("public class Adder {\n    public static int add(int a, int b) {\n        return a + ;\n    }\n}\n")
    assert r.status == "failed" and r.reason.startswith("compilation error:") and "Adder.java" in r.reason, r


def test_no_code_fails():
    r = run_java_check(JavaCheck((), TESTS, "forge"))
    assert r.status == "failed" and "no Java type declaration" in r.reason


NONCE = "ab" * 16


def line(found: int, ok: int, nonce: str = NONCE) -> str:
    return f"HARNESS-JUNIT-VERDICT {nonce} {found} {ok} {found - ok} "


def test_the_decision_needs_the_nonce_every_test_and_a_clean_exit():
    limits = java_limits()
    ok = SandboxResult("passed", 0, line(3, 3) + "\n", "", 1.0)
    assert decide(ok, NONCE, limits).passed
    assert not decide(SandboxResult("passed", 0, line(3, 3, "cd" * 16), "", 1.0), NONCE, limits).passed
    assert not decide(SandboxResult("failed", 1, line(3, 3), "", 1.0), NONCE, limits).passed  # not a clean exit
    assert not decide(SandboxResult("passed", 0, line(3, 2), "", 1.0), NONCE, limits).passed
    assert not decide(SandboxResult("passed", 0, line(0, 0), "", 1.0), NONCE, limits).passed  # no tests found
    assert decide(SandboxResult("timeout", None, line(3, 3), "", 9.0), NONCE, limits).status == "timeout"


def test_a_jdk_without_the_security_manager_refuses(monkeypatch: pytest.MonkeyPatch):
    rt = java.runtime()
    require(not isinstance(rt, str), f"no JDK: {rt}")
    assert not isinstance(rt, str)
    import dataclasses

    monkeypatch.setattr(java, "_runtime", dataclasses.replace(rt, major=24))
    why = java.refusal()
    assert why is not None and "--allow-weak-sandbox" in why and "\n" not in why
    r = run_java_check(JavaCheck((HONEST,), TESTS, "forge"))
    assert r.status == "error" and r.reason == why
    from harness.sandbox import core

    monkeypatch.setattr(core, "_allow_weak", True)  # --allow-weak-sandbox: it runs, without the Security Manager
    assert run_java_check(JavaCheck((HONEST,), TESTS, "forge")).passed
    assert java.record(java_limits())["security_manager"] is False
