"""Every ORM model, registered on one MetaData."""

from cicosts.models.alerts import Alert, AlertTrigger
from cicosts.models.base import Base
from cicosts.models.billing import StripeEvent, Subscription
from cicosts.models.ci import RunnerMapping, RunnerPrice, Workflow, WorkflowJob, WorkflowRun
from cicosts.models.cloud import (
    CloudAccount,
    CloudBillingPeriod,
    CloudCostRow,
    CloudDaily,
    CloudImport,
    CloudMetricSample,
    CloudTagDaily,
)
from cicosts.models.github import Installation, Repository
from cicosts.models.ledger import CIDaily, CIHourly, CIOrgHourly, LedgerHourly
from cicosts.models.llm import (
    LLMCustomPrice,
    LLMDimensionHourly,
    LLMEvent,
    LLMHourly,
    LLMOutcome,
    LLMProject,
)
from cicosts.models.notifications import NotificationDelivery
from cicosts.models.organization import ApiKey, Membership, OAuthState, Organization, RefreshToken, User
from cicosts.models.queue import Job

__all__ = [
    "Alert",
    "AlertTrigger",
    "ApiKey",
    "Base",
    "CIDaily",
    "CIHourly",
    "CIOrgHourly",
    "CloudAccount",
    "CloudBillingPeriod",
    "CloudCostRow",
    "CloudDaily",
    "CloudImport",
    "CloudMetricSample",
    "CloudTagDaily",
    "Installation",
    "Job",
    "LLMCustomPrice",
    "LLMDimensionHourly",
    "LLMEvent",
    "LLMHourly",
    "LLMOutcome",
    "LLMProject",
    "LedgerHourly",
    "Membership",
    "NotificationDelivery",
    "OAuthState",
    "Organization",
    "RefreshToken",
    "Repository",
    "RunnerMapping",
    "RunnerPrice",
    "StripeEvent",
    "Subscription",
    "User",
    "Workflow",
    "WorkflowJob",
    "WorkflowRun",
]
