"""Prompt templates: task files may come from anyone, so templates run sandboxed; a misspelt variable is an
error, not an empty prompt; template files live beside their task; the recorded hash follows the source."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.tasks.task import Task
from harness.tasks.templates import PromptTemplate

REPO = Path(__file__).resolve().parent.parent
KNOWLEDGE = REPO / "tasks" / "knowledge"
CTX = {"doc": {"question": "Q", "choices": [{"label": "A", "text": "x"}]}, "fewshot": [], "subset": {"zh": "科目"}}


@pytest.fixture
def task_file(tmp_path: Path) -> Path:
    folder = tmp_path / "task"
    folder.mkdir()
    return folder / "t.yaml"  # from_task_field only needs its folder


def render(source: str, **ctx) -> str:
    return PromptTemplate(source, "inline-test").render(**{**CTX, **ctx})


def test_plain_render() -> None:
    assert render("{{ subset.zh }}: {{ doc.question }} {% for c in doc.choices %}{{ c.label }}={{ c.text }}{% endfor %}") == "科目: Q A=x"


# ---------------------------------------------------------------- sandbox

UNSAFE = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ doc.__class__.__init__.__globals__ }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ cycler.__init__.__globals__.os.system('echo pwned') }}",
    "{{ ''|attr('__class__') }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ self.__dict__ }}",
    "{{ doc.update({'question': 'pwned'}) }}",
    "{{ doc.choices.append(1) }}",
    "{{ doc.pop('question') }}",
]


@pytest.mark.parametrize("source", UNSAFE)
def test_unsafe_template_is_refused(source: str) -> None:
    doc = {"question": "Q", "choices": [{"label": "A", "text": "x"}]}
    with pytest.raises(HarnessError) as exc:
        PromptTemplate(source, "evil.jinja").render(doc=doc, fewshot=[], subset={})
    assert "evil.jinja" in str(exc.value)
    assert doc == {"question": "Q", "choices": [{"label": "A", "text": "x"}]}  # nothing was mutated


def test_unsafe_access_is_reported_as_unsafe() -> None:
    with pytest.raises(HarnessError, match="unsafe"):
        render("{{ ''.__class__.__mro__ }}")


def test_unsafe_call_does_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    src = "{{ cycler.__init__.__globals__.os.system('touch %s') }}" % marker
    with pytest.raises(HarnessError):
        render(src)
    assert not marker.exists()


RUNTIME_ERRORS = [
    ("zero_division", "{{ 1 / 0 }}"),
    ("call_non_callable", "{{ doc.question() }}"),
    ("include_missing", "{% include 'missing.jinja' %}"),
    ("include_outside_folder", "{% include '../outside.jinja' %}"),
    ("range_too_big", "{{ range(10**7)|length }}"),
]


@pytest.mark.parametrize("source", [s for _, s in RUNTIME_ERRORS], ids=[i for i, _ in RUNTIME_ERRORS])
def test_template_runtime_error_is_a_harness_error(task_file: Path, source: str) -> None:
    (task_file.parent.parent / "outside.jinja").write_text("secret\n")
    tpl = PromptTemplate.from_task_field(source, task_file, "prompt")
    with pytest.raises(HarnessError) as exc:
        tpl.render(**CTX)
    assert str(task_file) in str(exc.value)


def test_include_cannot_read_outside_task_folder(task_file: Path) -> None:
    (task_file.parent.parent / "outside.jinja").write_text("secret\n")
    tpl = PromptTemplate.from_task_field("{% include '../outside.jinja' %}", task_file, "prompt")
    try:
        out = tpl.render(**CTX)
    except HarnessError:  # refused, with a one-line message
        return
    pytest.fail(f"include escaped the task folder and rendered {out!r}")


def test_include_inside_task_folder_works(task_file: Path) -> None:
    (task_file.parent / "part.jinja").write_text("[{{ doc.question }}]\n")
    tpl = PromptTemplate.from_task_field("{% include 'part.jinja' %}!", task_file, "prompt")
    assert tpl.render(**CTX) == "[Q]!"


def test_syntax_error_names_template(task_file: Path) -> None:
    (task_file.parent / "broken.jinja").write_text("{{ doc.question \n")
    with pytest.raises(HarnessError) as exc:
        PromptTemplate.from_task_field("broken.jinja", task_file, "prompt")
    assert "broken.jinja" in str(exc.value) and "line 1" in str(exc.value)


def test_unknown_filter_is_caught_at_load(task_file: Path) -> None:
    with pytest.raises(HarnessError) as exc:
        PromptTemplate.from_task_field("{{ doc.question|shout }}", task_file, "prompt")
    assert "shout" in str(exc.value) and "prompt" in str(exc.value)


# ---------------------------------------------------------------- StrictUndefined


def test_undefined_variable_names_template_file(task_file: Path) -> None:
    (task_file.parent / "typo.jinja").write_text("{{ doc.questoin }}\n")
    tpl = PromptTemplate.from_task_field("typo.jinja", task_file, "prompt")
    with pytest.raises(HarnessError) as exc:
        tpl.render(**CTX)
    msg = str(exc.value)
    assert "typo.jinja" in msg and "questoin" in msg and "undefined" in msg


def test_undefined_top_level_variable_inline(task_file: Path) -> None:
    tpl = PromptTemplate.from_task_field("{{ question }}", task_file, "prompt")
    with pytest.raises(HarnessError) as exc:
        tpl.render(**CTX)
    msg = str(exc.value)
    assert str(task_file) in msg and "'prompt'" in msg and "question" in msg


@pytest.mark.parametrize("source", [
    "{% if doc.missing %}x{% endif %}",
    "{% for x in doc.missing %}{{ x }}{% endfor %}",
    "{{ fewshot[0].question }}",
    "{{ doc.missing ~ '' }}",
])
def test_undefined_is_never_silently_empty(source: str) -> None:
    with pytest.raises(HarnessError):
        render(source)


def test_undefined_only_in_fewshot_loop_fails_once_there_are_exemplars() -> None:
    src = "{% for ex in fewshot %}{{ ex.anwser }}{% endfor %}{{ doc.question }}"
    assert render(src) == "Q"
    with pytest.raises(HarnessError, match="anwser"):
        render(src, fewshot=[{"answer": "A"}])


def test_task_with_typo_in_template_fails_while_rendering(tmp_path: Path, data_dir: Path) -> None:
    """Through Task.prompts: the undefined-variable error reaches the caller as a HarnessError."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "typo.jinja").write_text("{{ subset.zh }}{{ doc.questoin }}\n", encoding="utf-8")
    text = (KNOWLEDGE / "ceval.yaml").read_text(encoding="utf-8")
    text = text.replace("prompt: ceval.jinja", "prompt: typo.jinja").replace("name: ceval", "name: cevaltypo")
    text = text.replace("subsets: ceval.subsets.yaml", "subsets: {accountant: {zh: 注册会计师}}")
    (folder / "cevaltypo.yaml").write_text(text, encoding="utf-8")
    task = Task.load(folder / "cevaltypo.yaml")
    samples = task.samples(data_dir, limit=1)
    with pytest.raises(HarnessError) as exc:
        task.prompts(samples, {}, 0, "likelihood")
    assert "typo.jinja" in str(exc.value) and "questoin" in str(exc.value)


# ---------------------------------------------------------------- template files live in the task folder


@pytest.mark.parametrize("value", ["../x.jinja", "sub/../../x.jinja", "../task-evil/x.jinja"])
def test_template_path_traversal_rejected(task_file: Path, value: str) -> None:
    (task_file.parent.parent / "x.jinja").write_text("outside\n")
    (task_file.parent.parent / "task-evil").mkdir()
    (task_file.parent.parent / "task-evil" / "x.jinja").write_text("outside\n")
    with pytest.raises(HarnessError) as exc:
        PromptTemplate.from_task_field(value, task_file, "prompt")
    msg = str(exc.value)
    assert str(task_file) in msg and "'prompt'" in msg and "folder" in msg


def test_absolute_template_path_rejected(task_file: Path) -> None:
    outside = task_file.parent.parent / "abs.jinja"
    outside.write_text("outside\n")
    with pytest.raises(HarnessError, match="folder"):
        PromptTemplate.from_task_field(str(outside), task_file, "prompt")


def test_symlink_out_of_task_folder_rejected(task_file: Path) -> None:
    outside = task_file.parent.parent / "target.jinja"
    outside.write_text("outside\n")
    (task_file.parent / "link.jinja").symlink_to(outside)
    with pytest.raises(HarnessError, match="folder"):
        PromptTemplate.from_task_field("link.jinja", task_file, "prompt")


def test_template_in_subfolder_allowed(task_file: Path) -> None:
    (task_file.parent / "prompts").mkdir()
    (task_file.parent / "prompts" / "p.jinja").write_text("sub {{ doc.question }}\n")
    tpl = PromptTemplate.from_task_field("prompts/p.jinja", task_file, "prompt")
    assert tpl.render(**CTX) == "sub Q"


def test_missing_template_file(task_file: Path) -> None:
    with pytest.raises(HarnessError) as exc:
        PromptTemplate.from_task_field("absent.jinja", task_file, "prompt")
    assert "absent.jinja" in str(exc.value) and "not found" in str(exc.value)


def test_task_load_rejects_template_outside_folder(tmp_path: Path) -> None:
    folder = tmp_path / "tasks"
    folder.mkdir()
    (tmp_path / "x.jinja").write_text("{{ doc.question }}\n")
    text = (KNOWLEDGE / "ceval.yaml").read_text(encoding="utf-8").replace("prompt: ceval.jinja", "prompt: ../x.jinja")
    text = text.replace("subsets: ceval.subsets.yaml", "subsets: {accountant: {zh: 注册会计师}}")
    (folder / "ceval.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(HarnessError, match="task's folder"):
        Task.load(folder / "ceval.yaml")


def test_inline_template_when_not_a_file_name(task_file: Path) -> None:
    tpl = PromptTemplate.from_task_field("问：{{ doc.question }}", task_file, "prompt")
    assert tpl.render(**CTX) == "问：Q"
    assert tpl.source == "问：{{ doc.question }}"


# ---------------------------------------------------------------- hash and trailing newline


def test_hash_changes_with_source(task_file: Path) -> None:
    path = task_file.parent / "p.jinja"
    path.write_text("{{ doc.question }}\n答案：\n", encoding="utf-8")
    h1 = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").hash
    h1_again = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").hash
    path.write_text("{{ doc.question }}\n答案:\n", encoding="utf-8")  # full-width colon -> ASCII colon
    h2 = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").hash
    path.write_text("{{ doc.question }}\n答案:\n\n", encoding="utf-8")  # only whitespace differs
    h3 = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").hash
    assert h1 == h1_again
    assert len({h1, h2, h3}) == 3
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in (h1, h2, h3))


def test_hash_is_of_the_file_source() -> None:
    task = Task.load(KNOWLEDGE / "ceval.yaml")
    raw = (KNOWLEDGE / "ceval.jinja").read_bytes()
    assert task.template.hash == hashlib.sha256(raw).hexdigest()[:16]
    assert Task.load(KNOWLEDGE / "cmmlu.yaml").template.hash != task.template.hash


def test_hash_ignores_render_context() -> None:
    tpl = PromptTemplate("{{ doc.question }}", "x")
    before = tpl.hash
    tpl.render(**CTX)
    assert tpl.hash == before == PromptTemplate("{{ doc.question }}", "elsewhere").hash


def test_trailing_newline_not_in_prompt(task_file: Path) -> None:
    (task_file.parent / "p.jinja").write_text("{{ doc.question }}\n答案：\n", encoding="utf-8")
    out = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").render(**CTX)
    assert out == "Q\n答案："


def test_inner_newlines_are_kept(task_file: Path) -> None:
    (task_file.parent / "p.jinja").write_text("a\n\n{{ doc.question }}\nb", encoding="utf-8")
    out = PromptTemplate.from_task_field("p.jinja", task_file, "prompt").render(**CTX)
    assert out == "a\n\nQ\nb"


def test_real_templates_end_without_newline(data_dir: Path) -> None:
    for name, ending in (("ceval", "答案："), ("cmmlu", "答案是：")):
        assert (KNOWLEDGE / f"{name}.jinja").read_text(encoding="utf-8").endswith(ending + "\n")
        task = Task.load(KNOWLEDGE / f"{name}.yaml")
        prompt = task.prompts(task.samples(data_dir, limit=1), {}, 0, "likelihood")[0].prompt
        assert prompt.endswith(ending), repr(prompt[-20:])


@pytest.mark.parametrize("source", ["{{ 'a' * 10**10 }}", "{{ [1] * 100000000 }}", "{{ 2 ** 100000 }}"])
def test_memory_bombs_are_refused(task_file: Path, source: str) -> None:
    tpl = PromptTemplate.from_task_field(source, task_file, "prompt")
    with pytest.raises(HarnessError, match="unsafe"):
        tpl.render(**CTX)


def test_ordinary_repetition_still_works(task_file: Path) -> None:
    assert PromptTemplate.from_task_field("{{ '-' * 3 }}{{ 2 ** 3 }}", task_file, "prompt").render(**CTX) == "---8"
