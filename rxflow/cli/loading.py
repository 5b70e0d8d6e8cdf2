"""Finding workflows: ``MODULE:WORKFLOW`` targets (a dotted module importable from the current
directory, or a ``.py`` file) and registries (``--app`` / ``RXFLOW_APP``)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from ..workflow import Workflow
from .exits import UsageProblem

__all__ = ["check_workflow", "find_in_registry", "load_registry", "load_target", "load_workflow"]


def load_workflow(target: str, option: str = "MODULE:WORKFLOW") -> Workflow:
    """The committed workflow ``target`` names (``pkg.module:attr`` or ``path/file.py:attr``)."""
    module_name, attribute = _split(target, option)
    if not attribute:
        raise UsageProblem(
            f"{option} {target!r}: name the workflow after a colon, like '{module_name}:my_flow'"
        )
    value = _attribute(_import(module_name, target, option), attribute, target, option)
    return _checked(value, f"{option} {target!r}")


def load_registry(target: str, option: str) -> list[Workflow]:
    """The workflows of a registry: a mapping of workflows, a single workflow, or (a module
    alone) every committed workflow defined at the top of that module."""
    module_name, attribute = _split(target, option)
    module = _import(module_name, target, option)
    if not attribute:
        found = [v for v in vars(module).values() if isinstance(v, Workflow) and v.committed]
        if not found:
            raise UsageProblem(f"{option} {target!r}: the module defines no committed workflow")
        return found
    value = _attribute(module, attribute, target, option)
    if isinstance(value, Mapping):
        return [_checked(v, f"{option} {target!r}: [{k!r}]") for k, v in value.items()]
    return [_checked(value, f"{option} {target!r}")]


def load_target(target: str, option: str) -> tuple[str, Any]:
    """What ``target`` names: ``MODULE:ATTR``'s value, or (a module alone) a list of every
    committed workflow defined at the top of that module; and the attribute's name."""
    module_name, attribute = _split(target, option)
    if not attribute:
        return "", load_registry(target, option)
    return attribute, _attribute(_import(module_name, target, option), attribute, target, option)


def check_workflow(value: Any, where: str) -> Workflow:
    """``value`` as a committed workflow; a usage error naming ``where`` otherwise."""
    return _checked(value, where)


def find_in_registry(workflows: list[Workflow], workflow_id: str, option: str) -> Workflow:
    """The registry's workflow whose id is ``workflow_id``."""
    for workflow in workflows:
        if workflow.id == workflow_id:
            return workflow
    known = ", ".join(sorted(w.id for w in workflows)) or "none"
    raise UsageProblem(f"{option}: no workflow with id {workflow_id!r} (it has: {known})")


def _split(target: str, option: str) -> tuple[str, str]:
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise UsageProblem(f"{option} {target!r}: expected MODULE:NAME, like 'app.flows:my_flow'")
    return module_name, attribute


def _import(module_name: str, target: str, option: str) -> ModuleType:
    # Like `python -m`, the current directory comes first, so local modules are found.
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    is_path = module_name.endswith(".py") or os.sep in module_name
    try:
        if is_path:
            return _import_file(module_name, target, option)
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing = error.name or ""
        if not is_path and (module_name == missing or module_name.startswith(missing + ".")):
            raise UsageProblem(
                f"{option} {target!r}: cannot import module {module_name!r} "
                f"(no module named {missing!r} from {os.getcwd()})"
            ) from None
        raise UsageProblem(_while_importing(module_name, target, option, error)) from error
    except UsageProblem:
        raise
    except Exception as error:
        raise UsageProblem(_while_importing(module_name, target, option, error)) from error


def _import_file(path: str, target: str, option: str) -> ModuleType:
    if not os.path.isfile(path):
        raise UsageProblem(f"{option} {target!r}: no such file {path!r}")
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageProblem(f"{option} {target!r}: {path!r} is not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so that the workflow's own imports of it find this module
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:
        sys.path.insert(0, directory)
    spec.loader.exec_module(module)
    return module


def _while_importing(module_name: str, target: str, option: str, error: BaseException) -> str:
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    return (
        f"{option} {target!r}: importing module {module_name!r} raised "
        f"{type(error).__name__}: {error}{where}"
    )


def _attribute(module: ModuleType, attribute: str, target: str, option: str) -> Any:
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            names = sorted(
                n for n, v in vars(module).items() if isinstance(v, Workflow) and v.committed
            )
            known = f" (workflows there: {', '.join(names)})" if names else ""
            raise UsageProblem(
                f"{option} {target!r}: module {module.__name__!r} has no attribute "
                f"{attribute!r}{known}"
            )
        value = getattr(value, part)
    return value


def _checked(value: Any, where: str) -> Workflow:
    if not isinstance(value, Workflow):
        raise UsageProblem(f"{where} is not a workflow: it is {_describe(value)}")
    if not value.committed:
        raise UsageProblem(f"{where}: workflow {value.id!r} is not committed (call .commit())")
    return value


def _describe(value: Any) -> str:
    kind = type(value).__name__
    text = repr(value)
    shown = f"{text[:57]}..." if len(text) > 60 else text
    return f"{shown}, of type {kind}"
