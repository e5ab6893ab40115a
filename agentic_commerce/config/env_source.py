"""How settings are read from an environment mapping, and how a refused value is explained:
always by the name of its variable, in the words of the rest of the settings' messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource

# Pydantic's phrasing of a refused value, in ours (the variable's name goes in front).
PHRASES = {
    "int_parsing": "must be an integer, got {input!r}",
    "float_parsing": "must be a number, got {input!r}",
    "greater_than": "must be greater than {gt:g}",
    "greater_than_equal": "must be at least {ge:g}",
}


def variable(field: FieldInfo) -> str:
    """The environment variable a setting is read from."""
    return str(field.validation_alias)


class EnvironmentSource(EnvSettingsSource):
    """The declared variables of a mapping, as pydantic-settings reads os.environ, but each
    the text of one setting that its type parses (no JSON); a blank variable counts as unset.
    Only the variable names count (not the attribute names that keyword arguments take)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]) -> None:
        names = {variable(field) for field in settings_cls.model_fields.values()}
        self._variables = {name: env[name] for name in names & env.keys() if env[name].strip()}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return self._variables

    def prepare_field_value(
        self, field_name: str, field: FieldInfo, value: Any, value_is_complex: bool
    ) -> Any:
        return value


def refusal(exc: ValidationError, fields: Mapping[str, FieldInfo]) -> str:
    """Every refused value of `exc` (not the defaults that depend on one)."""
    return "; ".join(
        _reason(error, fields)
        for error in exc.errors()
        if error["type"] != "default_factory_not_called"
    )


def _reason(error: ErrorDetails, fields: Mapping[str, FieldInfo]) -> str:
    """One refused value, after the name of its variable (a rule over several names them)."""
    context = error.get("ctx", {})
    if not error["loc"]:
        return str(context.get("error", error["msg"]))
    key = str(error["loc"][0])
    name, field = next((variable(f), f) for n, f in fields.items() if key in (n, variable(f)))
    kind = error["type"]
    if kind == "value_error":
        return f"{name} {context['error']}"
    if kind == "literal_error":
        choices = ", ".join(get_args(field.annotation))
        return f"{name} must be one of {choices}, got {error['input']!r}"
    if kind in PHRASES:
        return f"{name} " + PHRASES[kind].format(input=error["input"], **context)
    return f"{name}: {error['msg']}"
