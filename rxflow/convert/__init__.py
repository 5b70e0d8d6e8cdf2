"""The one cattrs converter's public face: ``conform`` (strict schema checks with ``$.path``
errors), ``to_wire`` (JSON data or ``NotJSONError``), ``register_conversion`` for classes of
your own, and the camelCase wire forms of rxflow's own classes."""

# Every conversion in rxflow goes through ``converter``; nothing builds or reads wire dicts by
# hand. The modules register their hooks in this import order (a later hook wins for the same
# type): the converter itself, strict scalar and shape hooks, plain data and errors, validation
# messages, the wire forms, and last the user's own conversions.
from rxflow.convert import scalars, shapes  # noqa: F401  (strict hooks register on import)
from rxflow.convert.converter import converter
from rxflow.convert.custom import register_conversion
from rxflow.convert.models import register_model_hooks
from rxflow.convert.plain import ErrorValue, error_to_wire, to_wire
from rxflow.convert.validation import conform
from rxflow.convert.wire import register_wire_form, structure_wire, wire_difference

register_model_hooks()  # last: pydantic's hooks win for pydantic dataclasses too

__all__ = [
    "ErrorValue",
    "conform",
    "converter",
    "error_to_wire",
    "register_conversion",
    "register_wire_form",
    "structure_wire",
    "to_wire",
    "wire_difference",
]
