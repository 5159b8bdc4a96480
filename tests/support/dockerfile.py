"""The Dockerfile's stages run on this machine, without a container engine.

Each stage's filesystem is a directory: an absolute path written in an instruction
(``/wheels``, ``/opt/gatepass/bin``) is mapped into it, before the shell expands
variables, so a path that comes from a variable (a build argument) stays the
host's. RUN steps run with ``sh -c`` in the stage's WORKDIR, with its ENV and ARGs;
the base image is this machine's (its ``python3``); ``.dockerignore`` keeps files out of
the context as the builder does (plain and ``**/`` patterns). What differs from a container
build, and only that: no isolation, and RUN steps that create the image's user
(``useradd``, ``groupadd``) are skipped, as they would change this machine's accounts.

An instruction this module does not know fails the build: a test built on it never
quietly leaves out a step the Dockerfile has. USER, EXPOSE, LABEL, ENTRYPOINT and CMD
only describe the image; ENTRYPOINT and CMD are kept so a test can run them.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ACCOUNT_COMMANDS = ("useradd", "groupadd")
DESCRIPTIVE = ("USER", "EXPOSE", "LABEL")
# "/" at the start of a path: not inside a word, a relative path (./x, bin/x) or after a
# variable ($HOME/x, ${X}/x: the host's), and followed by a name ("//" of a URL is not a path).
_ABSOLUTE = re.compile(r"(?<![\w.$}/~-])/(?=[\w.])")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


class UnsupportedInstruction(Exception):
    pass


@dataclass
class Stage:
    name: str | None
    root: Path
    env: dict[str, str]
    args: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"
    entrypoint: list[str] = field(default_factory=list)
    cmd: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # RUN steps left out (accounts)

    def path(self, absolute: str) -> Path:
        """Where an absolute path of the image is on this machine."""
        return self.root / absolute.lstrip("/")

    def mapped(self, text: str) -> str:
        return _ABSOLUTE.sub(str(self.root) + "/", text)

    def expand(self, text: str) -> str:
        """Variables of ENV and ARG, as the builder substitutes them outside RUN."""
        values = {**self.env, **self.args}
        return _VARIABLE.sub(lambda m: values.get(m.group(1) or m.group(2), ""), text)

    def which(self, command: str) -> Path:
        """The file the image runs for a command name, by its PATH."""
        for directory in self.env["PATH"].split(":"):
            candidate = Path(directory) / command
            if candidate.is_relative_to(self.root) and os.access(candidate, os.X_OK):
                return candidate
        raise FileNotFoundError(f"{command} is not on the image's PATH")


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if line.strip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        if pending.strip():
            word, _, rest = pending.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


@dataclass
class Build:
    context: Path
    workdir: Path  # one directory per stage
    build_args: dict[str, str]
    base_env: dict[str, str]
    stages: dict[str, Stage] = field(default_factory=dict)  # by name (or stage-N)

    @property
    def image(self) -> Stage:
        return list(self.stages.values())[-1]

    def start(self, rest: str) -> Stage:
        parts = rest.split()
        name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
        root = self.workdir / f"stage-{len(self.stages)}"
        root.mkdir(parents=True)
        stage = Stage(name, root, dict(self.base_env))
        self.stages[name or root.name] = stage
        return stage

    def apply(self, stage: Stage, word: str, rest: str) -> None:
        if word == "ARG":
            key, eq, default = rest.partition("=")
            stage.args[key] = self.build_args.get(key, _unquote(default) if eq else "")
        elif word == "ENV":
            for pair in shlex.split(rest):
                key, _, value = pair.partition("=")
                stage.env[key] = stage.expand(stage.mapped(value))
        elif word == "WORKDIR":
            stage.workdir = stage.expand(rest)
            stage.path(stage.workdir).mkdir(parents=True, exist_ok=True)
        elif word == "COPY":
            _copy(stage, self.stages, self.context, rest)
        elif word == "RUN":
            _run(stage, rest)
        elif word in ("ENTRYPOINT", "CMD"):
            setattr(stage, word.lower(), json.loads(rest))
        elif word not in DESCRIPTIVE:
            raise UnsupportedInstruction(word)


def build(
    dockerfile: Path, context: Path, workdir: Path, build_args: dict[str, str], base_env: dict[str, str]
) -> Build:
    """Run every stage; the last is the image."""
    if re.search(r"\s", str(workdir)):
        raise ValueError(f"{workdir}: a path with blanks cannot be mapped into shell commands")
    run = Build(context, workdir, build_args, base_env)
    stage: Stage | None = None
    for word, rest in instructions(dockerfile):
        if word == "FROM":
            stage = run.start(rest)
        elif stage is not None:
            run.apply(stage, word, rest)
        elif word != "ARG":  # before the first FROM: ARGs for FROM lines only
            raise UnsupportedInstruction(f"{word} before the first FROM")
    if stage is None:
        raise UnsupportedInstruction("no FROM")
    return run


def _ignored(context: Path) -> Callable[[str, list[str]], set[str]]:
    """``.dockerignore``, for shutil.copytree."""
    dockerignore = context / ".dockerignore"
    lines = dockerignore.read_text().splitlines() if dockerignore.exists() else []
    patterns = [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]
    if any(p.startswith("!") for p in patterns):
        raise UnsupportedInstruction(".dockerignore exceptions (!)")

    def matches(rel: str) -> bool:
        parts = rel.split("/")
        suffixes = ["/".join(parts[i:]) for i in range(len(parts))]
        return any(
            any(fnmatch.fnmatchcase(s, p[3:]) for s in suffixes)
            if p.startswith("**/")
            else fnmatch.fnmatchcase(rel, p)
            for p in patterns
        )

    def ignore(directory: str, names: list[str]) -> set[str]:
        rel = Path(directory).relative_to(context).as_posix()
        return {n for n in names if matches(n if rel == "." else f"{rel}/{n}")}

    return ignore


def _copy(stage: Stage, stages: dict[str, Stage], context: Path, rest: str) -> None:
    words = stage.expand(rest).split()
    source_root, ignore = context, _ignored(context)
    if words[0].startswith("--from="):
        source_root, ignore = stages[words.pop(0).removeprefix("--from=")].root, None
    elif words[0].startswith("--"):
        raise UnsupportedInstruction(f"COPY {words[0]}")
    *sources, dest = words
    target = stage.path(dest if dest.startswith("/") else f"{stage.workdir}/{dest}")
    into = dest.endswith("/") or len(sources) > 1
    for source in sources:
        src = source_root / source.lstrip("/")
        if src.is_dir():
            shutil.copytree(src, target, dirs_exist_ok=True, symlinks=True, ignore=ignore)
        else:
            (target if into else target.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target / src.name if into else target)


def _run(stage: Stage, command: str) -> None:
    if command.split()[0] in ACCOUNT_COMMANDS:
        stage.skipped.append(command)
        return
    out = subprocess.run(
        ["sh", "-c", stage.mapped(command)],
        cwd=stage.path(stage.workdir),
        env={**stage.env, **stage.args},
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode:
        tail = (out.stdout + out.stderr)[-6000:]
        raise RuntimeError(f"RUN {command}\nfailed ({out.returncode}):\n{tail}")
