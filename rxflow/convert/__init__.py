"""The one cattrs converter: strict schema structuring, readable validation errors, wire form.

Schema checks (``conform``), the camelCase wire form of rxflow's own classes (``to_wire``,
``register_wire_form``) and snapshots all go through ``converter``; nothing else in rxflow
builds or reads wire dicts by hand. The classes themselves live in ``events`` and ``results``.

Strict structuring: no coercion between ``str``, numbers and ``bool`` (``"3"`` is not an int,
``3.7`` is not an int, ``True`` is not a number, ``1`` is not a bool); an ``int`` is accepted
where a ``float`` is expected and becomes a float. Keys of a mapping that the schema does not
name are ignored (dropped), like zod's default ``strip``.

The modules, in the order their hooks register (a later hook wins for the same type):
``converter`` (the ``Converter`` itself), ``scalars`` and ``shapes`` (strict structuring),
``plain`` (plain JSON data, errors as ``{message, name}``), ``validation`` (``conform`` and its
``$.path`` messages) and ``wire`` (the camelCase forms of rxflow's classes).
"""

from rxflow.convert import scalars, shapes  # noqa: F401  (strict hooks register on import)
from rxflow.convert.converter import converter
from rxflow.convert.plain import ErrorValue, error_to_wire, to_wire
from rxflow.convert.validation import conform
from rxflow.convert.wire import register_wire_form, structure_wire, wire_difference

__all__ = [
    "ErrorValue",
    "conform",
    "converter",
    "error_to_wire",
    "register_wire_form",
    "structure_wire",
    "to_wire",
    "wire_difference",
]
