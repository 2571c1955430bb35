"""The user docs against the code: every `--flag` they name exists in the script it is given to,
every relative link resolves, and the tracked tree carries no development history.

Flags are read from each script's own `--helpfull` / `--help` output, so a renamed or removed
flag fails here. In a shell code block, the flags after a command's script belong to that
script. In prose, a backticked flag belongs to a script named in the same paragraph or table
row, or, where none is named, to any of the project's scripts.
"""

import concurrent.futures
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]

# Commands a doc may show whose flags are not ours (their flags are not checked).
FOREIGN_COMMANDS = {"pip", "pip3", "pytest", "docker", "gcloud", "gsutil", "jupyter", "curl", "git",
                    "make", "apt-get", "tensorboard", "ls", "cat", "rm", "mkdir", "cp", "export",
                    "wget", "unzip", "tar", "nohup", "sudo", "python3 -m pip", "python -m pip",
                    "ctpu", "lscpu", "gcloud alpha", "saved_model_cli", "tflite_convert"}

FLAG = re.compile(r"(?<![\w-])--([A-Za-z][A-Za-z0-9_]*)")
HELP_FLAG = re.compile(r"--(?:\[no\])?([A-Za-z][A-Za-z0-9_]*)")
SCRIPT_FILE = re.compile(r"(?:^|[\s/`(])((?:run|create|extract)_[a-z_]+\.py)\b")
SCRIPT_MODULE = re.compile(r"(?:-m\s+|`)((?:bert_tf|bench)(?:\.[a-z_]+)+)")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HISTORY = re.compile(r"\bstops? [0-9]+\b|\bthis stop\b|\bstop[_-]?[0-9]+\b", re.IGNORECASE)


def doc_files():
    files = [REPO / "README.md", REPO / "bench" / "README.md", REPO / "configs" / "README.md"]
    files += sorted((REPO / "docs").rglob("*.md"))
    return [f for f in files if f.exists()]


def script_command(name):
    """The command that prints a script's flags, or None when `name` is not one of ours."""
    if name.endswith(".py"):
        path = REPO / name
        return [sys.executable, str(path), "--helpfull"] if path.exists() else None
    module_file = REPO / (name.replace(".", "/") + ".py")
    package_main = REPO / name.replace(".", "/") / "__main__.py"
    if not (module_file.exists() or package_main.exists()):
        return None
    source = (module_file if module_file.exists() else package_main).read_text()
    if "__main__" not in source and not package_main.exists():
        return None  # a library module, not an entry point
    uses_absl = "absl" in source and "app.run" in source
    return [sys.executable, "-m", name, "--helpfull" if uses_absl else "--help"]


def scripts_named(text):
    return {m.group(1) for m in SCRIPT_FILE.finditer(text)} | \
           {m.group(1) for m in SCRIPT_MODULE.finditer(text)}


def code_blocks(text):
    """(language, body) of each fenced block."""
    return re.findall(r"^```([\w-]*)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def prose(text):
    return re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)


def command_segments(body):
    """Shell logical lines (backslash continuations joined, comments cut), split at | && ; ."""
    joined = re.sub(r"\\\n", " ", body)
    for line in joined.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line)
        for segment in re.split(r"\|\||&&|[|;]", line):
            if segment.strip():
                yield segment


def uses_in_code(body):
    """(script, flag) for each flag written after one of our scripts in a shell block."""
    for segment in command_segments(body):
        match = SCRIPT_FILE.search(" " + segment) or re.search(
            r"-m\s+((?:bert_tf|bench)(?:\.[a-z_]+)+)", segment)
        if not match:
            continue
        script = match.group(1)
        start = segment.find(script) + len(script)
        for flag in FLAG.findall(segment[start:]):
            yield script, flag


def uses_in_prose(text):
    """(scripts named in the same paragraph or table row, flag) for each backticked flag."""
    for paragraph in re.split(r"\n\s*\n", prose(text)):
        rows = paragraph.splitlines() if paragraph.lstrip().startswith("|") else [paragraph]
        for row in rows:
            named = scripts_named(row) or scripts_named(paragraph)
            for span in re.findall(r"`([^`\n]+)`", row):
                words = span.split()
                if words and (words[0] in FOREIGN_COMMANDS or " ".join(words[:3]) in FOREIGN_COMMANDS):
                    continue
                in_span = scripts_named(" " + span)
                for flag in FLAG.findall(span):
                    yield (in_span or named), flag


@pytest.fixture(scope="module")
def uses():
    """[(doc, scripts or None, flag)] over every doc."""
    found = []
    for doc in doc_files():
        text = doc.read_text(encoding="utf-8")
        for language, body in code_blocks(text):
            if language in ("", "bash", "sh", "shell", "console"):
                found += [(doc, {script}, flag) for script, flag in uses_in_code(body)]
        found += [(doc, scripts or None, flag) for scripts, flag in uses_in_prose(text)]
    return found


@pytest.fixture(scope="module")
def script_flags(uses):
    """{script: set of flags} for every script the docs name, from its own help output."""
    names = set()
    for _, scripts, _ in uses:
        names |= scripts or set()
    names |= {p.name for p in REPO.glob("*.py") if p.name != "setup.py"}
    commands = {n: script_command(n) for n in names}
    commands = {n: c for n, c in commands.items() if c}

    def read(item):
        name, command = item
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
        output = done.stdout + done.stderr
        flags = set(HELP_FLAG.findall(output))
        assert flags, f"{name}: no flags in its help output (exit {done.returncode}):\n{output[-2000:]}"
        return name, flags

    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        return dict(pool.map(read, commands.items()))


def known(flag, flags):
    return flag in flags or (flag.startswith("no") and flag[2:] in flags)


def test_docs_exist():
    names = {p.name for p in doc_files()}
    assert "README.md" in names
    assert len(list((REPO / "docs").glob("*.md"))) >= 8, "docs/ should hold one guide per topic"


def test_every_documented_flag_exists(uses, script_flags):
    all_flags = set().union(*script_flags.values())
    missing = []
    for doc, scripts, flag in uses:
        ours = [s for s in (scripts or ()) if s in script_flags]
        if scripts and not ours:
            continue  # named scripts that are not ours (or not entry points): nothing to check
        pool = set().union(*(script_flags[s] for s in ours)) if ours else all_flags
        if not known(flag, pool):
            where = ", ".join(sorted(ours)) if ours else "any script"
            missing.append(f"{doc.relative_to(REPO)}: --{flag} (checked against {where})")
    assert not missing, "flags the docs name that the scripts do not define:\n" + "\n".join(
        sorted(set(missing)))


def test_flag_files_use_real_flags(script_flags):
    """configs/**/*.flags are run_classifier.py flag files unless a comment names another script."""
    bad = []
    for path in sorted((REPO / "configs").rglob("*.flags")):
        text = path.read_text()
        named = [s for s in scripts_named(text) if s in script_flags] or ["run_classifier.py"]
        pool = set().union(*(script_flags[s] for s in named))
        for line in text.splitlines():
            if line.strip().startswith("--"):
                flag = FLAG.match(line.strip()).group(1)
                if not known(flag, pool):
                    bad.append(f"{path.relative_to(REPO)}: --{flag}")
    assert not bad, "\n".join(bad)


def heading_anchors(markdown):
    """GitHub's anchors for a page's headings: lower case, punctuation dropped, spaces to '-'."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", prose(markdown), flags=re.MULTILINE):
        anchors.add(re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", heading.lower())))
    return anchors


def test_relative_links_resolve():
    broken = []
    for doc in doc_files():
        text = doc.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue
            file_part, _, anchor = target.partition("#")
            path = (doc.parent / file_part).resolve() if file_part else doc
            if not path.exists():
                broken.append(f"{doc.relative_to(REPO)}: {target}")
            elif anchor and path.suffix == ".md" and \
                    anchor not in heading_anchors(path.read_text(encoding="utf-8")):
                broken.append(f"{doc.relative_to(REPO)}: {target} (no such heading)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_heading_anchors_follow_github():
    assert heading_anchors("## The demo: `make demo`\n### Sequence length and batching\n") == \
        {"the-demo-make-demo", "sequence-length-and-batching"}


def test_flag_parsing_finds_what_it_should():
    """The parsers above catch a wrong flag in both places a doc writes one."""
    body = "python run_classifier.py --task_name=MRPC \\\n  --bogus_flag=1 | tee log\n"
    assert list(uses_in_code(body)) == [("run_classifier.py", "task_name"),
                                        ("run_classifier.py", "bogus_flag")]
    row = "| `--pooling` | `run_classifier.py` only |\n"
    assert list(uses_in_prose(row)) == [({"run_classifier.py"}, "pooling")]
    assert list(uses_in_prose("`pip install --no-deps x`")) == []


def test_no_development_history_in_tracked_files():
    """Measured figures name a machine and a date or commit, never a work-session number."""
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip(f"not a git checkout: {listed.stderr.strip()}")
    hits = []
    for name in listed.stdout.splitlines():
        path = REPO / name
        if path.suffix not in (".py", ".md", ".json", ".ipynb", ".flags", ".txt", "") or \
                not path.is_file():
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace")
                                      .splitlines(), start=1):
            if HISTORY.search(line) and path.name != "test_docs.py":
                hits.append(f"{name}:{number}: {line.strip()[:120]}")
    assert not hits, "development history in the tree:\n" + "\n".join(hits[:40])
