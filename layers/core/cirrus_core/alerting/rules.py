"""Alert rules' use cases: create, list, read, replace and delete (docs/monitoring.md, "Alert rules").

Every refusal happens before anything is written or scheduled. A drift_detection rule owns an
EventBridge Scheduler schedule that starts the drift monitor every evaluation window: it is created
before the rule is stored and deleted before the rule is.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from cirrus_core.audit.entries import entry_for
from cirrus_core.audit.models import AuditCategory
from cirrus_core.authz import Resource, authorize, determining_policies
from cirrus_core.errors import (
    AlertNotFound,
    AlertTypeChange,
    InvalidPaginationToken,
    ModelNotFound,
    UnknownChannel,
)
from cirrus_core.invariants import given
from cirrus_core.monitoring.models import (
    PLATFORM_WIDE,
    AlertRule,
    AlertRuleDetail,
    AlertRulePage,
    AlertType,
    CreateAlertRequest,
    DriftRunTrigger,
    UpdateAlertRequest,
)
from cirrus_core.pagination import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cirrus_core.alerting.rules_store import AlertState
    from cirrus_core.audit.models import AuditEntry
    from cirrus_core.caller import Caller
    from cirrus_core.monitoring.models import (
        CreateDriftAlert,
        CreatePerformanceAlert,
        CreateSystemAlert,
        DriftAlertSettings,
        PerformanceAlertSettings,
        SystemAlertSettings,
    )
    from cirrus_core.registry.models import RegisteredModel

SCHEDULE_TIMEZONE = "UTC"


class RuleStorePort(Protocol):
    def create_rule(self, rule: AlertRule, audit: AuditEntry | None) -> None: ...

    def replace_rule(self, rule: AlertRule, audit: AuditEntry | None) -> None: ...

    def delete_rule(self, alert_id: str, audit: AuditEntry | None) -> None: ...

    def rule(self, alert_id: str) -> AlertRule | None: ...

    def rules(
        self, *, limit: int, after: str | None = None, model_id: str | None = None
    ) -> tuple[list[AlertRule], str | None]: ...

    def missing_channels(self, names: Sequence[str]) -> list[str]: ...

    def states(self, alert_id: str) -> list[AlertState]: ...


class ModelDirectory(Protocol):
    def model(self, model_id: str) -> RegisteredModel | None: ...


class SchedulePort(Protocol):
    def create(
        self, name: str, expression: str, timezone: str, target_arn: str, target_input: str, description: str
    ) -> bool: ...

    def delete(self, name: str) -> bool: ...


def schedule_expression(window: str) -> str:
    """`rate(n unit)` of an evaluation window (`30m` -> `rate(30 minutes)`)."""
    value, unit = int(window[:-1]), {"m": "minute", "h": "hour", "d": "day"}[window[-1]]
    return f"rate({value} {unit}{'s' if value != 1 else ''})"


def rule_resource(model_id: str | None) -> Resource:
    """The Cedar resource of a rule: its model, or the model `*` for a platform-wide rule."""
    return Resource.model(model_id or PLATFORM_WIDE)


def _links(rule: AlertRule) -> dict[str, str]:
    from cirrus_core.api import API_PREFIX

    links = {"self": f"{API_PREFIX}/monitoring/alerts/{rule.alert_id}"}
    if rule.model_id:
        links["model"] = f"{API_PREFIX}/models/{rule.model_id}"
    return links


def _with_links(rule: AlertRule) -> AlertRule:
    return rule.model_copy(update={"links": _links(rule)})


class AlertRulesService:
    """Alert rules on behalf of a `Caller`."""

    def __init__(
        self,
        store: RuleStorePort,
        models: ModelDirectory,
        schedules: SchedulePort,
        *,
        drift_state_machine_arn: str,
        audit_enabled: bool = True,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._store = store
        self._models = models
        self._schedules = schedules
        self._arn = drift_state_machine_arn
        self._audit_enabled = audit_enabled
        self._clock = clock
        self._new_id = new_id

    # -- create -----------------------------------------------------------------------------------------

    def create(self, request: CreateAlertRequest, caller: Caller) -> AlertRule:
        """Store a rule (a drift rule with the schedule of its monitor runs)."""
        body = request.root
        authorize(caller.principal, "CreateAlert", rule_resource(body.model_id))
        if body.model_id is not None:
            self._model(body.model_id)
        self._check_channels(body.notification_channels)
        now = self._clock()
        alert_id = self._new_id()
        rule = self._rule(alert_id, body, now, caller.actor)
        audit = self._audit(caller, "create_alert", self._audit_resource(rule), now)
        if rule.schedule_name is None:
            self._store.create_rule(rule, audit)
            return _with_links(rule)
        # The schedule first: a rule is never stored (nor audited) without the schedule that runs it.
        self._create_schedule(rule)
        try:
            self._store.create_rule(rule, audit)
        except Exception:
            self._schedules.delete(rule.schedule_name)
            raise
        return _with_links(rule)

    def _rule(
        self,
        alert_id: str,
        body: CreateDriftAlert | CreatePerformanceAlert | CreateSystemAlert,
        now: datetime,
        actor: str,
    ) -> AlertRule:
        drift = body.alert_type is AlertType.DRIFT_DETECTION
        return AlertRule.model_validate(
            {
                **body.model_dump(),
                "alert_id": alert_id,
                "schedule_name": f"drift-{alert_id}" if drift else None,
                "schedule_expression": schedule_expression(body.evaluation_window) if drift else None,
                "created_at": now,
                "created_by": actor,
            }
        )

    # -- read -------------------------------------------------------------------------------------------

    def list(self, limit: int, next_token: str | None, model_id: str | None, caller: Caller) -> AlertRulePage:
        """Rules, newest first; of one model when `model_id` is given."""
        authorize(caller.principal, "ListAlerts", Resource.platform())
        after: str | None = None
        if next_token:
            position = decode_token(next_token, frozenset({"a", "m"}))
            if position["m"] != model_id or not isinstance(position["a"], str):
                raise InvalidPaginationToken("next_token does not belong to this listing.")
            after = position["a"]
        items, last = self._store.rules(limit=limit, after=after, model_id=model_id)
        token = encode_token({"a": last, "m": model_id}) if last else None
        return AlertRulePage(items=[_with_links(item) for item in items], next_token=token)

    def get(self, alert_id: str, caller: Caller) -> AlertRuleDetail:
        """A rule with its alerts' states."""
        rule = self._existing(alert_id, "GetAlert", caller)
        states = sorted(self._store.states(alert_id), key=lambda state: state.subject)
        return AlertRuleDetail.model_validate(
            {**_with_links(rule).model_dump(), "states": [state.view() for state in states]}
        )

    # -- update -----------------------------------------------------------------------------------------

    def update(self, alert_id: str, request: UpdateAlertRequest, caller: Caller) -> AlertRule:
        """Replace the rule's mutable fields (a drift rule's schedule follows its window)."""
        rule = self._existing(alert_id, "UpdateAlert", caller)
        body = request.root
        if body.alert_type is not rule.alert_type:
            raise AlertTypeChange(
                f"Alert '{alert_id}' is a {rule.alert_type.value} rule; its alert_type cannot change "
                "(delete it and create another).",
                [{"field": "alert_type", "expected": rule.alert_type.value, "given": body.alert_type.value}],
            )
        self._check_channels(body.notification_channels)
        now = self._clock()
        changed = self._replaced(rule, body, now, caller.actor)
        audit = self._audit(caller, "update_alert", self._audit_resource(rule), now)
        reschedule = (
            changed.schedule_name is not None and changed.schedule_expression != rule.schedule_expression
        )
        if not reschedule:
            self._store.replace_rule(changed, audit)
            return _with_links(changed)
        self._replace_schedule(rule, changed)
        try:
            self._store.replace_rule(changed, audit)
        except Exception:
            self._replace_schedule(changed, rule)
            raise
        return _with_links(changed)

    @staticmethod
    def _replaced(
        rule: AlertRule,
        body: DriftAlertSettings | PerformanceAlertSettings | SystemAlertSettings,
        now: datetime,
        actor: str,
    ) -> AlertRule:
        fields = body.model_dump()
        expression = schedule_expression(body.evaluation_window) if rule.schedule_name is not None else None
        return AlertRule.model_validate(
            {
                **rule.model_dump(exclude={"links"}),
                **fields,
                "schedule_expression": expression,
                "updated_at": now,
                "updated_by": actor,
            }
        )

    # -- delete -----------------------------------------------------------------------------------------

    def delete(self, alert_id: str, caller: Caller) -> None:
        """Delete the rule's schedule, then the rule and its alerts' state."""
        rule = self._existing(alert_id, "DeleteAlert", caller)
        now = self._clock()
        if rule.schedule_name is not None:
            self._schedules.delete(rule.schedule_name)
        from cirrus_core.alerting.rules_store import RuleMissing

        try:
            self._store.delete_rule(
                alert_id, self._audit(caller, "delete_alert", self._audit_resource(rule), now)
            )
        except RuleMissing as error:
            raise AlertNotFound(f"No alert rule '{alert_id}'.") from error

    # -- shared -----------------------------------------------------------------------------------------

    def _existing(self, alert_id: str, action: str, caller: Caller) -> AlertRule:
        rule = self._store.rule(alert_id)
        if rule is None:
            # Authorized as on a platform-wide rule, so that who may not act learns nothing of ids.
            authorize(caller.principal, action, rule_resource(None))
            raise AlertNotFound(f"No alert rule '{alert_id}'.")
        authorize(caller.principal, action, rule_resource(rule.model_id))
        return rule

    def _model(self, model_id: str) -> RegisteredModel:
        model = self._models.model(model_id)
        if model is None:
            raise ModelNotFound(f"No model '{model_id}' is registered.")
        return model

    def _check_channels(self, names: Sequence[str]) -> None:
        missing = self._store.missing_channels(names)
        if missing:
            raise UnknownChannel(
                f"No notification channel named {', '.join(map(repr, missing))}; create it with "
                "POST /api/v1/monitoring/channels.",
                [{"field": "notification_channels", "unknown": missing}],
            )

    def _create_schedule(self, rule: AlertRule) -> None:
        schedule_name = given(rule.schedule_name, "schedule_name")
        schedule_expression = given(rule.schedule_expression, "schedule_expression")
        target_input = {
            "model_id": rule.model_id,
            "environment": rule.environment.value if rule.environment else None,
            "alert_id": rule.alert_id,
            "window": rule.evaluation_window,
            "trigger": DriftRunTrigger.SCHEDULE.value,
        }
        self._schedules.create(
            schedule_name,
            schedule_expression,
            SCHEDULE_TIMEZONE,
            self._arn,
            json.dumps(target_input, separators=(",", ":")),
            f"Drift monitor of {rule.model_id} ({target_input['environment']}), alert {rule.alert_id}",
        )

    def _replace_schedule(self, old: AlertRule, new: AlertRule) -> None:
        self._schedules.delete(given(old.schedule_name, "schedule_name"))
        self._create_schedule(new)

    @staticmethod
    def _audit_resource(rule: AlertRule) -> str:
        return f"model/{rule.model_id or PLATFORM_WIDE}/alert/{rule.alert_id}"

    def _audit(self, caller: Caller, action: str, resource: str, at: datetime) -> AuditEntry | None:
        if not self._audit_enabled:
            return None
        return entry_for(caller, action, resource, AuditCategory.CHANGE, at, policies=determining_policies())
