"""Java checks (NaturalCodeBench Java): the model's code and the problem's JUnit 5 test class, compiled together
and run in one sandboxed JVM, decided so that the model's code cannot forge the verdict.

The JVM runs under every layer of harness/sandbox/core.py (run_command: boot applies them, then execs java). Inside
it, our launcher (harness/sandbox/jvm/JUnitVerdict.java, compiled once into a cache folder keyed by its hash) reads
a nonce and the test class's name from stdin before any untrusted class exists, compiles the test class in-process
(the solution's types found through the source path, as upstream's `javac -cp .:JUnit/* TestRunner.java` does),
then runs JUnit 5 programmatically under the Security Manager with a Policy that gives the classes compiled from the
work folder almost nothing (no exit, no setOut, no setAccessible, no processes, sockets or writes outside the work
folder). It alone can print the verdict line with the nonce: tests found / succeeded / failed and a reason. A
check passes only when that line says every test (at least one) succeeded and the JVM exited 0.

How the model's code becomes files, as upstream's ncb/test_setup.py does: every ```java (```Java, then bare ```)
block; in each, its import lines, and every interface, class and enum declaration (upstream's regular expressions)
written to a file of its own, named after the type, with the JUnit imports and the block's imports in front (a
`package` line is dropped this way). The test class is renamed Test_java_<id> like upstream's. Where upstream
named a file by the text after `class ` up to whitespace, we take the identifier (`Foo<T>` -> Foo.java), so a
generic or brace-adjacent name still compiles.

Problems whose tests or reference solution need a library that is not installed here (fastjson2, which Debian does
not package; jsoup and lombok unless installed) are not run: `missing_libraries` names them, and the run counts
them as excluded with the reason, never as 0.

The Security Manager was removed in JDK 24; with such a JDK the Java task refuses (refusal()), naming
--allow-weak-sandbox, rather than run with verdicts the code could forge.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from harness.sandbox.core import Limits, ProcessHandle, SandboxResult, run_command

PROTOCOL = "junit-verdict/1"
_SOURCE = Path(__file__).with_name("jvm") / "JUnitVerdict.java"
_MAIN = "harness_sandbox.JUnitVerdict"
_MARK = "HARNESS-JUNIT-VERDICT"
# JUnit as upstream's classpath has it: the console standalone jar bundles the Jupiter and Vintage engines, JUnit 4
# and Hamcrest (several problems' tests are JUnit 4 classes, run by the Vintage engine)
_JARS = ("junit-platform-console-standalone",)
_JAR_DIRS = ("/usr/share/java",)
# libraries NaturalCodeBench's problems import (upstream ships the jars in JUnit/): import prefix -> jar name stem
LIBRARIES = {"com.alibaba.fastjson2": "fastjson2", "com.alibaba.fastjson": "fastjson2", "org.jsoup": "jsoup",
             "lombok": "lombok"}
_JUNIT_IMPORTS = "import org.junit.jupiter.api.Test;\nimport static org.junit.jupiter.api.Assertions.*;\n"


@dataclass(frozen=True)
class JavaCheck:
    """One Java check: the model's answer (`code`: the extracted ```java blocks) and the problem's test class."""

    blocks: tuple[str, ...]
    tests: str
    problem_id: str


@dataclass(frozen=True)
class JavaResult:
    status: str  # passed | failed | timeout | memory | cpu | killed | error
    reason: str
    seconds: float
    stdout: str
    stderr: str
    found: int = 0
    succeeded: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


# ------------------------------------------------------------------------------------------------ the runtime
@dataclass(frozen=True)
class Runtime:
    java: str  # the real path of the java executable
    home: str  # JAVA_HOME (real path)
    reads: tuple[str, ...]  # read-only roots the JVM needs (its home, its conf folder, the jars' folders)
    jars: tuple[str, ...]  # JUnit and the libraries found
    major: int


_runtime_lock = threading.Lock()
_runtime: Runtime | str | None = None


def find_jar(stem: str) -> str | None:
    """/usr/share/java/<stem>.jar (Debian's unversioned link), else the newest <stem>-<version>.jar there."""
    for d in _JAR_DIRS:
        plain = Path(d) / f"{stem}.jar"
        if plain.is_file():
            return str(plain)
        found = sorted(Path(d).glob(f"{stem}-[0-9]*.jar")) if Path(d).is_dir() else []
        if found:
            return str(found[-1])
    return None


def _probe_runtime() -> Runtime | str:
    java, javac = shutil.which("java"), shutil.which("javac")
    if not java or not javac:
        return "no JDK here (java and javac are needed): install one, e.g. apt-get install -y openjdk-17-jdk-headless"
    java = os.path.realpath(java)
    home = str(Path(java).parent.parent)
    try:
        out = subprocess.run([java, "-XshowSettings:properties", "-version"], capture_output=True, text=True,
                             timeout=60).stderr
    except (OSError, subprocess.SubprocessError) as e:
        return f"java does not run here: {e}"
    m = re.search(r"java\.specification\.version = (\d+)", out)
    major = int(m.group(1)) if m else 0
    jars = []
    for stem in _JARS:
        jar = find_jar(stem)
        if jar is None:
            return f"JUnit 5 is not installed ({stem}.jar missing under /usr/share/java): apt-get install -y junit5"
        jars.append(jar)
    for stem in sorted(set(LIBRARIES.values())):
        jar = find_jar(stem)
        if jar is not None:
            jars.append(jar)
    reads = {home, os.path.realpath(os.path.join(home, "conf")), os.path.realpath(os.path.join(home, "lib"))}
    for jar in jars:
        reads.add(os.path.dirname(os.path.realpath(jar)))
        reads.add(os.path.dirname(jar))
    for link in Path(home).rglob("*"):  # Debian links parts of the JDK to /etc/java-17-openjdk and elsewhere
        if link.is_symlink():
            target = os.path.realpath(link)
            if os.path.exists(target) and not target.startswith(home + "/"):
                reads.add(target)
    return Runtime(java, home, tuple(sorted(reads)), tuple(jars), major)


def runtime() -> Runtime | str:
    """The JDK and jars found here (probed once), or one line saying what is missing."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            _runtime = _probe_runtime()
        return _runtime


def refusal() -> str | None:
    """Why Java checks cannot run here, in one line; None when they can."""
    rt = runtime()
    if isinstance(rt, str):
        return rt
    if rt.major >= 24:
        return (f"sandbox: Java {rt.major} has no Security Manager, so the model's code could forge its JUnit verdict "
                f"here; use a JDK 17-23, or pass --allow-weak-sandbox to run it anyway")
    return None


def missing_libraries(*texts: str) -> list[str]:
    """The libraries these sources import that are not installed here (jar name stems), sorted."""
    missing = set()
    for text in texts:
        for name in re.findall(r"^\s*import\s+(?:static\s+)?([\w.]+)", text or "", re.M):
            for prefix, stem in LIBRARIES.items():
                if (name == prefix or name.startswith(prefix + ".")) and find_jar(stem) is None:
                    missing.add(stem)
    return sorted(missing)


# ------------------------------------------------------------------------------------------------ the launcher
_launcher_lock = threading.Lock()


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zh-llm-harness" / "java-launcher"


def launcher_classes(rt: Runtime) -> Path:
    """The launcher compiled (once per source hash, JDK and jars) into a cache folder; its path."""
    source = _SOURCE.read_bytes()
    key = hashlib.sha256(source + rt.java.encode() + "\0".join(rt.jars).encode()).hexdigest()[:16]
    target = _cache_root() / key
    with _launcher_lock:
        if (target / "harness_sandbox" / "JUnitVerdict.class").is_file():
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=target.parent))
        try:
            done = subprocess.run([os.path.join(rt.home, "bin", "javac"), "-nowarn", "-Xlint:-removal", "-d",
                                   str(scratch), "-cp", ":".join(rt.jars), str(_SOURCE)],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"could not compile the harness's JUnit launcher: {done.stderr.strip()[-500:]}")
            for p in [scratch, *scratch.rglob("*")]:
                p.chmod(0o755 if p.is_dir() else 0o644)  # read by the sandbox's own uid
            try:
                scratch.rename(target)
            except OSError:  # another process made it first
                pass
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        for d in (target.parent, target.parent.parent):  # the sandbox's uid passes through on the way
            try:
                d.chmod(d.stat().st_mode | 0o755)
            except OSError:
                pass
        return target


# ------------------------------------------------------------------------------------------------ the sources
_FENCE_JAVA = re.compile(r"```java[\n\r](.*?)[\n\r]```", re.S)
_FENCE_JAVA_CAP = re.compile(r"```Java(.*?)```", re.S)
_FENCE_BARE = re.compile(r"```[\n\r](.*?)[\n\r]```", re.S)


def extract_java(output: str) -> list[str]:
    """The code blocks of an answer, as upstream's extract_java_code takes them: every ```java block, then every
    ```Java block, then every bare ``` block; a [Java]...[/Java] tag first. Without a fence: [] (upstream's
    unfenced fallbacks cut at the first `}}`-free match and are left out; such answers fail to compile there too)."""
    if "[Java]" in output:
        m = re.search(r"\[Java\](.*?)\[/Java\]", output, re.S)
        return [m.group(1)] if m else []
    blocks = _FENCE_JAVA.findall(output)
    rest = output
    for c in blocks:
        rest = rest.replace("```java" + c + "```", "")
    blocks += _FENCE_JAVA_CAP.findall(rest)
    for c in blocks:
        rest = rest.replace("```Java" + c + "```", "")
    blocks += _FENCE_BARE.findall(rest)
    return blocks


_IMPORT = re.compile(r"(\n|^)(import .*?)\n", re.M)
_DECLS = {kind: re.compile(rf"((@.*?)?(\n[^\n]*)?{kind} .*?[;}}]{'?' if kind == 'enum' else ''}\s*\n+}})", re.S)
          for kind in ("interface", "class", "enum")}


def solution_files(blocks: list[str] | tuple[str, ...]) -> dict[str, str]:
    """File name -> source for the model's types, split as upstream's write_java_test_files does (see the module
    docstring); a later type of the same name replaces an earlier one, as upstream's file writes did."""
    files: dict[str, str] = {}
    for block in blocks:
        c = "\n" + block
        imports = [m[1] for m in _IMPORT.findall(c)]
        for kind, pattern in _DECLS.items():
            for found in pattern.findall(c):
                decl = found[0]
                m = re.search(rf"{kind}\s+([A-Za-z_$][\w$]*)", decl)
                if m is None:
                    continue
                files[f"{m.group(1)}.java"] = _JUNIT_IMPORTS + "\n".join(imports) + "\n" + decl + "\n"
    return files


def test_class_file(tests: str, problem_id: str) -> tuple[str, str]:
    """(class name, source) of the problem's test class renamed Test_java_<id>, as upstream does."""
    m = re.search(r"class (.*?)\s", tests, re.S)
    name = f"Test_java_{re.sub(r'[^0-9A-Za-z_]', '_', problem_id)}"
    if m is None:
        return name, tests
    return name, tests.replace(m.group(1), name)


# ------------------------------------------------------------------------------------------------ running
def java_limits(timeout_s: float = 60.0, memory_mb: int = 2048) -> Limits:
    """The JVM's limits: its threads (JIT, GC, JUnit) need more tasks than Python, and its address-space
    reservations a larger RLIMIT_AS, kept bounded by the -X flags of jvm_flags(). CPU seconds twice the wall
    clock: the JIT and GC threads run beside the program's, so on an idle machine a busy loop used to reach a CPU
    limit equal to the wall clock first (status cpu, not timeout)."""
    return Limits(timeout_s=timeout_s, cpu_s=max(1, int(2 * timeout_s)), memory_mb=max(memory_mb, 1024), tasks=128,
                  disk_mb=64, files=4096)


def jvm_flags(limits: Limits) -> list[str]:
    """Heap a quarter of the address space; metaspace, class space and code cache capped so the reservations
    fit RLIMIT_AS; serial GC and C1 only (fewer threads, quicker start); no perf data file."""
    heap = max(64, limits.memory_mb // 4)
    return [f"-Xmx{heap}m", "-Xss4m", "-XX:MaxMetaspaceSize=256m", "-XX:CompressedClassSpaceSize=64m",
            "-XX:ReservedCodeCacheSize=64m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
            "-Xshare:auto", "-Djava.io.tmpdir=tmp", "-Dfile.encoding=UTF-8", "-Duser.language=en"]


def run_java_check(check: JavaCheck, limits: Limits | None = None, handle: ProcessHandle | None = None) -> JavaResult:
    """Compile and run one check in the sandbox and decide it by the launcher's verdict line (module docstring)."""
    limits = limits or java_limits()
    why = refusal()
    if why is not None:
        from harness.sandbox import core

        if not (why.startswith("sandbox: Java") and core._allow_weak):
            return JavaResult("error", why, 0.0, "", "")
    rt = runtime()
    assert not isinstance(rt, str)
    files = solution_files(check.blocks)
    if not files:
        return JavaResult("failed", "no Java type declaration in the answer's code blocks", 0.0, "", "")
    test_name, test_source = test_class_file(check.tests, check.problem_id)
    files[f"{test_name}.java"] = test_source  # the tests' file wins over a model's type of the same name
    classes = launcher_classes(rt)
    classpath = ":".join([str(classes), *rt.jars])
    nonce = secrets.token_hex(16)
    confine = rt.major < 24  # else only under --allow-weak-sandbox (see refusal): the verdict is then forgeable
    argv = [rt.java, *jvm_flags(limits), *(["-Djava.security.manager=allow"] if confine else []), "-cp", classpath,
            _MAIN]
    stdin = f"{nonce}\n{test_name}\n{'confined' if confine else 'unconfined'}\n"
    r = run_command(argv, limits, stdin, files={k: v.encode() for k, v in files.items()},
                    read_roots=[*rt.reads, str(classes)], env={"MALLOC_ARENA_MAX": "2", "JAVA_HOME": rt.home},
                    handle=handle)
    return decide(r, nonce, limits)


def decide(r: SandboxResult, nonce: str, limits: Limits) -> JavaResult:
    """Passed only when the launcher's line with this nonce says every test (>= 1) succeeded and the JVM exited 0."""
    verdict = None
    for line in r.stdout.splitlines():
        parts = line.split(" ")
        if len(parts) == 6 and parts[0] == _MARK and parts[1] == nonce:
            try:
                verdict = (int(parts[2]), int(parts[3]), int(parts[4]),
                           base64.b64decode(parts[5]).decode("utf-8", "replace"))
            except ValueError:
                verdict = None
    out = "\n".join(line for line in r.stdout.splitlines() if not line.startswith(_MARK))
    if verdict is not None:
        found, succeeded, failed, reason = verdict
        if r.status == "passed" and found >= 1 and succeeded == found:
            return JavaResult("passed", f"{found} tests passed", r.seconds, out, r.stderr, found, succeeded)
        if r.status == "passed":
            if not reason:
                reason = "no tests found" if found == 0 else f"{succeeded} of {found} tests passed"
            elif found:
                reason = f"{succeeded} of {found} tests passed: {reason}"
            return JavaResult("failed", reason, r.seconds, out, r.stderr, found, succeeded)
    if r.status == "timeout":
        return JavaResult("timeout", f"time limit of {limits.timeout_s:g} s", r.seconds, out, r.stderr)
    if r.status in ("memory", "cpu", "killed", "error"):
        last = (r.stderr.strip().splitlines() or [""])[-1][:200]
        return JavaResult(r.status, f"the JVM: {r.status}" + (f" ({last})" if last else ""), r.seconds, out, r.stderr)
    return JavaResult("failed", f"no verdict from the launcher (exit status {r.returncode})", r.seconds, out, r.stderr)


# ------------------------------------------------------------------------------------------------ the run's side
def render_java_checks(task: Any, sample: Any, outputs: Sequence[str]) -> list[JavaCheck]:
    """The check of each generation of one item: the answer's code blocks and the task's tests template (the
    problem's test class; templates see `doc` and `output`)."""
    from harness.tasks.task import template_doc

    doc = template_doc(sample)
    checks = []
    for text in outputs:
        tests = task.execution_program.render(doc=doc, output=text, code="", full=False, prefix="", entry=None)
        checks.append(JavaCheck(tuple(extract_java(text)), tests, str(sample.sample_id)))
    return checks


def submit(pool: Any, check: JavaCheck, limits: Limits) -> Any:
    """One check on the run's CheckPool (harness/sandbox/protocol.py): a Future of its JavaResult, which has the
    fields the run records of a CheckResult (status, reason, seconds, stdout, stderr, passed)."""
    return pool.submit_call(run_java_check, check, limits)


def check_allowed() -> None:
    """Raise HarnessError with refusal()'s line when Java checks cannot run here (before any is queued)."""
    from harness.errors import HarnessError
    from harness.sandbox import core

    why = refusal()
    if why is not None and not (why.startswith("sandbox: Java") and core._allow_weak):
        raise HarnessError(why)


def record(limits: Limits) -> dict[str, Any]:
    """What the results' sandbox block says about the Java checks: the verdict protocol, the JVM's limits and flags."""
    rt = runtime()
    return {"protocol": PROTOCOL, "java": None if isinstance(rt, str) else rt.major,
            "security_manager": not isinstance(rt, str) and rt.major < 24,
            "limits": {"timeout_s": limits.timeout_s, "cpu_s": limits.cpu_s, "memory_mb": limits.memory_mb,
                       "tasks": limits.tasks, "disk_mb": limits.disk_mb, "files": limits.files},
            "jvm_flags": jvm_flags(limits)}


def unrunnable(sample: Any) -> str | None:
    """Why this problem cannot be run here (its tests or reference need a library not installed), as an exclusion
    reason; None when it can."""
    raw = sample.raw
    missing = missing_libraries(str(raw.get("testcases", "")), str(raw.get("reference_solution", "")))
    return f"needs_{'_and_'.join(missing)}_not_installed" if missing else None
