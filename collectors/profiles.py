"""Collection profiles: which collectors run, with which options, from validated YAML.

A profile file has three top-level keys::

    name: triage
    description: What it is for
    collectors:
      system: {}
      files:
        targets: [/etc/passwd, {path: "/tmp/**", max_size: 10MiB}]

Errors name the file, the line and the problem (:class:`custody.errors.ProfileError`).
"""

from __future__ import annotations

import copy
import importlib.resources
import importlib.resources.abc
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

import collectors  # noqa: F401 - fills the registry
from collectors._util import Opt
from collectors._util import parse_size as _parse_size
from collectors.base import REGISTRY, ordered
from collectors.files import TARGET_KEYS
from custody.errors import ProfileError

BUILTIN_PROFILES = ("none", "minimal", "triage", "full")
TOP_LEVEL_KEYS = ("name", "description", "collectors")
_OS_NAMES = ("linux", "windows", "darwin", "macos")


def parse_size(value: object) -> int:
    """Bytes from an int or a string like ``10MiB``, ``1GB``, ``512K`` (ValueError otherwise)."""
    return _parse_size(value)


@dataclass(frozen=True)
class Profile:
    """A validated profile; ``collectors`` maps collector name to options, in file order."""

    name: str
    description: str
    collectors: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""

    def with_paths(self, globs: list[str]) -> Profile:
        """A copy whose files collector also takes ``globs`` (``--path``); adds it if absent.

        A relative glob is made absolute from the current directory (``~`` expanded) here,
        so the run's record names what was collected, not a path relative to somewhere.
        """
        if not globs:
            return self
        chosen = copy.deepcopy(self.collectors)
        files = chosen.setdefault("files", {})
        absolute = [str(Path(g).expanduser().absolute()) for g in globs]
        files["targets"] = [*(files.get("targets") or []), *absolute]
        return replace(self, collectors=chosen)


def _builtin(name: str) -> importlib.resources.abc.Traversable:
    return importlib.resources.files("resources") / "profiles" / f"{name}.yaml"


def builtin_profile_text(name: str) -> str:
    """The YAML text of a built-in profile (read through importlib.resources; works frozen)."""
    return _builtin(name).read_text(encoding="utf-8")


def load_profile(name_or_path: str) -> Profile:
    """A built-in profile by name (none, minimal, triage, full) or a profile file by path."""
    if name_or_path in BUILTIN_PROFILES:
        resource = _builtin(name_or_path)
        text = resource.read_text(encoding="utf-8")
        return parse_profile(text, str(resource), display=f"{name_or_path}.yaml")
    path = Path(name_or_path)
    if not path.is_file():
        raise ProfileError(
            f"unknown profile {name_or_path!r}: not one of {', '.join(BUILTIN_PROFILES)} "
            "and no such file"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{name_or_path}: cannot read profile: {exc}") from exc
    return parse_profile(text, str(path))


def parse_profile(text: str, source: str = "<profile>", display: str | None = None) -> Profile:
    """Validate profile YAML ``text`` from ``source``; errors name ``display`` (or ``source``)."""
    profile = _Validator(display or source).profile(text)
    return replace(profile, source=source)


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node | None, problem: str) -> ProfileError:
        where = f" line {node.start_mark.line + 1}" if node is not None else ""
        return ProfileError(f"{self.source}{where}: {problem}")

    def profile(self, text: str) -> Profile:
        try:
            loader = yaml.SafeLoader(text)
        except yaml.YAMLError as exc:
            raise ProfileError(f"{self.source}: not readable as YAML: {exc}") from exc
        try:
            root = loader.get_single_node()
            if root is None:
                raise self.fail(None, "the profile is empty")
            if not isinstance(root, yaml.MappingNode):
                raise self.fail(
                    root, "a profile must be a mapping with name, description, collectors"
                )
            top = self.mapping(root, "top-level key")
            for key, (key_node, _) in top.items():
                if key not in TOP_LEVEL_KEYS:
                    raise self.fail(
                        key_node,
                        f"unknown top-level key {key!r} (allowed: {', '.join(TOP_LEVEL_KEYS)})",
                    )
            name = self.string(top, "name", loader, default=Path(self.source).stem)
            description = self.string(top, "description", loader, default="")
            if "collectors" not in top:
                raise self.fail(root, "missing 'collectors'")
            chosen = self.collectors(top["collectors"][1], loader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f" line {mark.line + 1}" if mark is not None else ""
            problem = exc.problem or "malformed"
            if exc.context:
                problem = (
                    f"{exc.context} {problem}"
                    if problem.startswith("but")
                    else f"{problem} ({exc.context})"
                )
            raise ProfileError(f"{self.source}{line}: YAML syntax error: {problem}") from exc
        except yaml.YAMLError as exc:
            raise ProfileError(f"{self.source}: YAML error: {exc}") from exc
        finally:
            loader.dispose()
        return Profile(name=name, description=description, collectors=chosen, source=self.source)

    def mapping(self, node: yaml.MappingNode, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """Keys (strings) to (key node, value node); duplicate keys are an error."""
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or not isinstance(key_node.value, str):
                raise self.fail(key_node, f"a {what} must be a name")
            key = key_node.value
            if key in out:
                raise self.fail(key_node, f"{what} {key!r} given twice")
            out[key] = (key_node, value_node)
        return out

    def string(
        self,
        top: dict[str, tuple[yaml.Node, yaml.Node]],
        key: str,
        loader: yaml.SafeLoader,
        default: str,
    ) -> str:
        if key not in top:
            return default
        node = top[key][1]
        value = loader.construct_object(node, deep=True)
        if not isinstance(value, str):
            raise self.fail(node, f"{key} must be text, got {value!r}")
        return value

    def collectors(self, node: yaml.Node, loader: yaml.SafeLoader) -> dict[str, dict[str, Any]]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "collectors must be a mapping of collector name to options")
        known = ", ".join(c.name for c in ordered())
        chosen: dict[str, dict[str, Any]] = {}
        for name, (key_node, value_node) in self.mapping(node, "collector").items():
            if name not in REGISTRY:
                raise self.fail(key_node, f"unknown collector {name!r} (known: {known})")
            chosen[name] = self.options(name, value_node, loader)
        return chosen

    def options(self, collector: str, node: yaml.Node, loader: yaml.SafeLoader) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"options of {collector} must be a mapping (or {{}})")
        schema = REGISTRY[collector].options_schema
        options: dict[str, Any] = {}
        for option, (key_node, value_node) in self.mapping(node, "option").items():
            if option not in schema:
                allowed = ", ".join(schema) or "none"
                raise self.fail(
                    key_node, f"unknown option {option!r} for {collector} (allowed: {allowed})"
                )
            value = loader.construct_object(value_node, deep=True)
            self.check(option, schema[option], value, value_node)
            options[option] = value
        return options

    def check(self, option: str, kind: Any, value: Any, node: yaml.Node) -> None:
        if kind is Opt.SIZE:
            self.size(option, value, node)
        elif kind is Opt.STR_LIST:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise self.fail(node, f"{option} must be {kind.value}, got {value!r}")
        elif kind is Opt.TARGETS:
            self.targets(option, value, node)
        else:
            types = kind if isinstance(kind, tuple) else (kind,)
            wrong_bool = isinstance(value, bool) and bool not in types
            if wrong_bool or not isinstance(value, types):
                names = " or ".join(t.__name__ for t in types)
                raise self.fail(node, f"{option} must be of type {names}, got {value!r}")

    def size(self, option: str, value: Any, node: yaml.Node) -> None:
        try:
            parse_size(value)
        except ValueError:
            raise self.fail(node, f"{option} must be a size like 10MiB, got {value!r}") from None

    def targets(self, option: str, value: Any, node: yaml.Node) -> None:
        if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{option} must be {Opt.TARGETS.value}")
        for item, item_node in zip(value, node.value, strict=True):
            if isinstance(item, str):
                continue
            if not isinstance(item, dict) or not isinstance(item_node, yaml.MappingNode):
                raise self.fail(item_node, f"a target must be a path or a mapping, got {item!r}")
            keys = self.mapping(item_node, "target key")
            for key, (key_node, _) in keys.items():
                if key not in TARGET_KEYS:
                    raise self.fail(
                        key_node, f"unknown target key {key!r} (allowed: {', '.join(TARGET_KEYS)})"
                    )
            if not isinstance(item.get("path"), str):
                raise self.fail(item_node, "a target mapping needs a 'path' (text)")
            for key in ("max_size", "min_size"):
                if key in item:
                    self.size(key, item[key], keys[key][1])
            age = item.get("max_age_days")
            if "max_age_days" in item and (
                isinstance(age, bool) or not isinstance(age, int | float) or age < 0
            ):
                raise self.fail(
                    keys["max_age_days"][1], f"max_age_days must be a number >= 0, got {age!r}"
                )
            if "os" in item:
                systems = item["os"] if isinstance(item["os"], list) else [item["os"]]
                if not all(isinstance(s, str) and s.lower() in _OS_NAMES for s in systems):
                    raise self.fail(
                        keys["os"][1],
                        f"os must be one of {', '.join(_OS_NAMES)}, got {item['os']!r}",
                    )
