"""Every table, imported from one place: `from models import Signal`.

Each capability defines its own tables in `hookyard/<capability>/tables.py` (columns, indexes, small
query methods; no HTTP, no Redis). They bind to `hookyard.core.db.db`, pointed at SQLite or Postgres
once the configuration is known. Schema changes go through `migrations/`, never `create_tables` at
runtime.
"""

from hookyard.activities.tables import Activity, IngressUrl, Member, Project
from hookyard.core.db import BaseModel
from hookyard.flows.tables import Flow, FlowEvent
from hookyard.keys.tables import ApiKey, ManagementKey, Organization
from hookyard.mapping.tables import MappingRule
from hookyard.ops.tables import DeadLetter, RetentionPolicy
from hookyard.outbound.tables import Delivery, DeliveryAttempt, Endpoint, Event, EventType
from hookyard.signals.tables import IdBlock, Identity, IdentityAlias, Lead, RateLimit, Signal, SignalImport

__all__ = [
    "MODELS",
    "Activity",
    "ApiKey",
    "DeadLetter",
    "Delivery",
    "DeliveryAttempt",
    "Endpoint",
    "Event",
    "EventType",
    "Flow",
    "FlowEvent",
    "IdBlock",
    "Identity",
    "IdentityAlias",
    "IngressUrl",
    "Lead",
    "ManagementKey",
    "MappingRule",
    "Member",
    "Organization",
    "Project",
    "RateLimit",
    "RetentionPolicy",
    "Signal",
    "SignalImport",
]

MODELS = BaseModel.__subclasses__()  # every table, in an order where each comes after those it references
