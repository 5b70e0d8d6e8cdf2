"""``register_conversion``: teach the one converter a class of your own, both ways (to JSON
data, and back where a schema names the class)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from rxflow.convert.converter import Mismatch, converter, type_name
from rxflow.convert.plain import to_wire

__all__ = ["register_conversion"]

T = TypeVar("T")


def register_conversion(
    cls: type[T],
    to_json: Callable[[T], Any],
    from_json: Callable[[Any], T] | None = None,
) -> None:
    """Teach rxflow how values of ``cls`` (and its subclasses) become JSON data and back.

    ``to_json(value)`` returns what ``value`` is stored and sent as; what it returns is
    converted in turn, so it may hold datetimes, decimals or other known classes. With a
    durable storage a step output holding a class rxflow does not know fails the step with
    ``NotJSONError``; once registered, it is stored as ``to_json`` says.

    ``from_json(data)`` makes a value of ``cls`` from that data again: a schema naming
    ``cls`` (an output, input, state, suspend or resume schema, or a field of one) then reads
    stored or incoming data back into ``cls``, so a resumed run sees the same type. Without
    it such a schema accepts only values of ``cls`` themselves. An exception it raises means
    the data does not fit (a ``ValidationError`` naming the path).

    Register before running workflows that use the class; a later registration for the same
    class replaces the earlier one::

        rxflow.register_conversion(
            Money,
            lambda m: {"amount": m.amount, "currency": m.currency},  # amount: a Decimal
            lambda d: Money(Decimal(d["amount"]), d["currency"]),
        )
    """
    if not isinstance(cls, type):
        raise TypeError(f"register_conversion needs a class, got {cls!r}")
    if not callable(to_json) or (from_json is not None and not callable(from_json)):
        raise TypeError("register_conversion needs functions for to_json and from_json")

    def write(value: Any) -> Any:
        return to_wire(to_json(value))

    converter.register_unstructure_hook(cls, write)
    if from_json is None:
        return
    name = type_name(cls)

    def read(value: Any, _: Any) -> Any:
        if isinstance(value, cls):
            return value
        try:
            return from_json(value)
        except Exception as exc:
            raise Mismatch(name, value) from exc

    converter.register_structure_hook(cls, read)
