"""marshmallow schemas of the signal queue and mapping rules."""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from hookyard.mapping.rules import LEAD_FIELDS, OPERATORS, condition_problem
from schemas import JsonBoolean, UtcDateTime


class ConditionSchema(Schema):
    field = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "A dot path into the payload: properties.form_name."},
    )
    op = fields.String(required=True, validate=validate.OneOf(OPERATORS))
    value = fields.Raw(allow_none=True, load_default=None)


class RuleFieldsSchema(Schema):
    """What a rule says; shared by create, update and the dry run."""

    source = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64))
    event = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list, validate=validate.Length(max=50))
    field_map = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LEAD_FIELDS)),
        values=fields.String(validate=validate.Length(min=1, max=255)),
        load_default=dict,
    )
    score = fields.Integer(load_default=0, validate=validate.Range(min=-1_000_000, max=1_000_000))

    @validates_schema
    def conditions_make_sense(self, data, **kwargs):
        problems = {}
        for index, condition in enumerate(data.get("conditions") or []):
            problem = condition_problem(condition)
            if problem:
                problems[index] = {"value" if condition.get("op") in OPERATORS else "op": [problem]}
        if problems:
            raise ValidationError(problems, field_name="conditions")


class MappingRuleCreateSchema(RuleFieldsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    signal_name = fields.String(required=True, validate=validate.Length(min=1, max=255))
    priority = fields.Integer(
        load_default=0,
        validate=validate.Range(min=-1_000_000, max=1_000_000),
        metadata={"description": "Higher is tried first; ties go to the older rule."},
    )
    active = JsonBoolean(load_default=True)


class MappingRuleSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    source = fields.String(allow_none=True)
    event = fields.String(allow_none=True)
    conditions = fields.List(fields.Dict())
    field_map = fields.Dict()
    signal_name = fields.String()
    score = fields.Integer()
    priority = fields.Integer()
    active = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class MappingRuleListSchema(Schema):
    mapping_rules = fields.List(fields.Nested(MappingRuleSchema))
    next_cursor = fields.String(allow_none=True)


class RuleTestSchema(RuleFieldsSchema):
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "How many of the latest queued signals to try."},
    )


class RuleTestMatchSchema(Schema):
    id = fields.Integer()
    source = fields.String()
    event = fields.String(allow_none=True)
    fields_ = fields.Dict(
        data_key="fields",
        attribute="fields",
        metadata={"description": "The lead fields the field_map finds in this signal."},
    )


class RuleTestResultSchema(Schema):
    tried = fields.Integer()
    matched = fields.Integer()
    signals = fields.List(fields.Nested(RuleTestMatchSchema))


class ApplyResultSchema(Schema):
    id = fields.String(metadata={"description": "The apply job: GET /v1/mapping-rules/<id>/apply/<job id>."})
    status = fields.String(metadata={"description": "queued, started, finished or failed"})
    mapped = fields.Integer()
    scanned = fields.Integer()


class QueueArgsSchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class QueueGroupSchema(Schema):
    source = fields.String()
    event = fields.String(allow_none=True)
    count = fields.Integer()
    first_seen = UtcDateTime()
    last_seen = UtcDateTime()
    sample = fields.Dict(allow_none=True)
    suggested_rule = fields.Dict()


class SignalQueueSchema(Schema):
    groups = fields.List(fields.Nested(QueueGroupSchema))


mapping_rule_create_schema = MappingRuleCreateSchema()
mapping_rule_schema = MappingRuleSchema()
rule_test_schema = RuleTestSchema()
rule_test_result_schema = RuleTestResultSchema()
queue_args_schema = QueueArgsSchema()
signal_queue_schema = SignalQueueSchema()
mapping_rule_list_schema = MappingRuleListSchema()
apply_result_schema = ApplyResultSchema()
