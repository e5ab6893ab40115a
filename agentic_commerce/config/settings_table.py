"""The README's settings table, rendered from the declarations in `settings.py`, so the two
cannot drift: tests/config/test_settings_table.py fails while they differ, and
`python -m agentic_commerce.config.settings_table README.md` rewrites the table in place."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from agentic_commerce.config.env_source import variable
from agentic_commerce.config.settings import SHOWN, Settings

HEADER = ("| Variable | Default | Meaning |", "|---|---|---|")


def settings_table() -> list[str]:
    """One row per setting, in the order of the declarations."""
    return [*HEADER, *(_row(field) for field in Settings.model_fields.values())]


def readme_table(readme: str) -> list[str]:
    """The settings table of the README: its header and the rows right after it."""
    lines = readme.splitlines()
    start = lines.index(HEADER[0])
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return lines[start:end]


def with_table(readme: str) -> str:
    """The README with its settings table replaced by the rendered one."""
    return readme.replace("\n".join(readme_table(readme)), "\n".join(settings_table()))


def _row(field: FieldInfo) -> str:
    return f"| `{variable(field)}` | {_default(field)} | {field.description} |"


def _default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    if isinstance(extra, dict) and SHOWN in extra:
        return str(extra[SHOWN])
    value = field.get_default(call_default_factory=True)
    if value is None or value in ((), {}):
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(_number(part) for part in value)}`"
    if isinstance(value, float):
        return f"`{_number(value)}`"
    return f"`{value}`"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


if __name__ == "__main__":
    readme = Path(sys.argv[1])
    readme.write_text(with_table(readme.read_text()))
