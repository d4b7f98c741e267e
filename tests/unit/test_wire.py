"""The shared wire vocabulary (schemas.py): JSON booleans."""

import pytest
from marshmallow import Schema, ValidationError

from schemas import JsonBoolean


class Flag(Schema):
    active = JsonBoolean()


@pytest.mark.parametrize("value", [True, False])
def test_a_json_boolean_loads(value):
    assert Flag().load({"active": value}) == {"active": value}


@pytest.mark.parametrize("value", ["true", "false", 1, 0, "yes", "on", None, [], {}])
def test_anything_else_is_refused_naming_the_field(value):
    with pytest.raises(ValidationError) as refused:
        Flag().load({"active": value})
    assert "active" in refused.value.messages
