"""The API Gateway v2 types of a WebSocket API (the live feed), for the local provisioner.

The API, its integrations, routes, route responses and stage are created in moto's apigatewayv2
backend, for real ids and so that `aws apigatewayv2 get-routes` answers as in AWS; the local
WebSocket server (`cirrus.localcloud.websocket`) serves them from the deployment's resolved
properties. moto has no CreateDeployment for v2 APIs: a Deployment is recorded only.
Only WebSocket APIs with Lambda proxy (AWS_PROXY) integrations are served locally; an HTTP API,
or another integration type, is refused before anything is created.

This module's handlers are registered in `cirrus.localcloud.resources.HANDLERS`, which imports it
at its end: import `cirrus.localcloud.resources` (or the provisioner) rather than this module alone.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Final

from cirrus.localcloud.intrinsics import TemplateError
from cirrus.localcloud.resources import (
    DeployedResource,
    ProvisionContext,
    Provisioned,
    ResourceHandler,
    _pick,
    _unapplied,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

SUPPORTED_PROTOCOL: Final = "WEBSOCKET"
SUPPORTED_INTEGRATION: Final = "AWS_PROXY"


def api_endpoint(api_id: str, region: str) -> str:
    """The `ApiEndpoint` AWS gives a WebSocket API."""
    return f"wss://{api_id}.execute-api.{region}.amazonaws.com"


class ApiGatewayV2Api(ResourceHandler):
    """AWS::ApiGatewayV2::Api (WebSocket only)."""

    type_name = "AWS::ApiGatewayV2::Api"
    attributes = frozenset({"ApiId", "ApiEndpoint"})
    _HANDLED = frozenset({"Name", "Description", "ProtocolType", "RouteSelectionExpression", "Tags"})

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        protocol = properties.get("ProtocolType")
        if protocol != SUPPORTED_PROTOCOL:
            raise TemplateError(
                f"{logical_id} ({self.type_name}): ProtocolType {protocol!r}; the local cloud serves "
                f"{SUPPORTED_PROTOCOL} APIs only"
            )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        self.validate(logical_id, props)
        request: dict[str, Any] = {
            "Name": str(props.get("Name") or logical_id),
            "ProtocolType": SUPPORTED_PROTOCOL,
            "RouteSelectionExpression": str(props.get("RouteSelectionExpression", "$request.body.action")),
            **_pick(props, "Description"),
        }
        if props.get("Tags"):
            request["Tags"] = {str(key): str(value) for key, value in dict(props["Tags"]).items()}
        api_id = str(ctx.client("apigatewayv2").create_api(**request)["ApiId"])
        return Provisioned(
            physical_id=api_id,
            attributes={"ApiId": api_id, "ApiEndpoint": api_endpoint(api_id, ctx.region)},
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        # The id stays; the local server reads routes from the deployment.
        self.validate(logical_id, props)
        return Provisioned(physical_id=previous.physical_id, attributes=previous.attributes)


class ApiGatewayV2Integration(ResourceHandler):
    """AWS::ApiGatewayV2::Integration (Lambda proxy)."""

    type_name = "AWS::ApiGatewayV2::Integration"
    _HANDLED = frozenset({"ApiId", "IntegrationType", "IntegrationUri", "IntegrationMethod", "Description"})

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        kind = properties.get("IntegrationType")
        if kind != SUPPORTED_INTEGRATION:
            raise TemplateError(
                f"{logical_id} ({self.type_name}): IntegrationType {kind!r}; the local WebSocket server "
                f"serves {SUPPORTED_INTEGRATION} integrations only"
            )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        self.validate(logical_id, props)
        integration = ctx.client("apigatewayv2").create_integration(
            ApiId=str(props["ApiId"]),
            IntegrationType=SUPPORTED_INTEGRATION,
            IntegrationUri=str(props["IntegrationUri"]),
            IntegrationMethod="POST",
            **_pick(props, "Description"),
        )
        return Provisioned(
            physical_id=str(integration["IntegrationId"]),
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )


class ApiGatewayV2Route(ResourceHandler):
    """AWS::ApiGatewayV2::Route."""

    type_name = "AWS::ApiGatewayV2::Route"
    _HANDLED = frozenset(
        {
            "ApiId",
            "RouteKey",
            "Target",
            "AuthorizationType",
            "OperationName",
            "RouteResponseSelectionExpression",
        }
    )

    def validate(self, logical_id: str, properties: Mapping[str, Any]) -> None:
        authorization = properties.get("AuthorizationType", "NONE")
        if authorization != "NONE":
            raise TemplateError(
                f"{logical_id} ({self.type_name}): AuthorizationType {authorization!r}; the local "
                "WebSocket server runs no authorizers (the $connect function verifies the token)"
            )

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        self.validate(logical_id, props)
        route = ctx.client("apigatewayv2").create_route(
            ApiId=str(props["ApiId"]),
            RouteKey=str(props["RouteKey"]),
            **_pick(props, "Target", "OperationName", "RouteResponseSelectionExpression"),
        )
        return Provisioned(
            physical_id=str(route["RouteId"]), notes=_unapplied(self.type_name, props, self._HANDLED)
        )


class ApiGatewayV2RouteResponse(ResourceHandler):
    """AWS::ApiGatewayV2::RouteResponse: a route whose integration's answer goes back on the socket."""

    type_name = "AWS::ApiGatewayV2::RouteResponse"
    _HANDLED = frozenset({"ApiId", "RouteId", "RouteResponseKey"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        response = ctx.client("apigatewayv2").create_route_response(
            ApiId=str(props["ApiId"]),
            RouteId=str(props["RouteId"]),
            RouteResponseKey=str(props["RouteResponseKey"]),
        )
        return Provisioned(
            physical_id=str(response["RouteResponseId"]),
            notes=_unapplied(self.type_name, props, self._HANDLED),
        )


class ApiGatewayV2Deployment(ResourceHandler):
    """AWS::ApiGatewayV2::Deployment: recorded only (moto has no CreateDeployment for v2 APIs)."""

    type_name = "AWS::ApiGatewayV2::Deployment"
    attributes = frozenset({"DeploymentId"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        digest = hashlib.sha256(json.dumps([logical_id, props], sort_keys=True, default=str).encode())
        deployment_id = digest.hexdigest()[:6]
        return Provisioned(physical_id=deployment_id, attributes={"DeploymentId": deployment_id})


class ApiGatewayV2Stage(ResourceHandler):
    """AWS::ApiGatewayV2::Stage: the stage the local WebSocket server serves the API at."""

    type_name = "AWS::ApiGatewayV2::Stage"
    _HANDLED = frozenset({"ApiId", "StageName", "DeploymentId", "Description", "StageVariables"})

    def create(self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any]) -> Provisioned:
        name = str(props["StageName"])
        ctx.client("apigatewayv2").create_stage(ApiId=str(props["ApiId"]), StageName=name)
        return Provisioned(physical_id=name, notes=_unapplied(self.type_name, props, self._HANDLED))

    def update(
        self, ctx: ProvisionContext, logical_id: str, props: Mapping[str, Any], previous: DeployedResource
    ) -> Provisioned:
        return Provisioned(
            physical_id=previous.physical_id, notes=_unapplied(self.type_name, props, self._HANDLED)
        )


WEBSOCKET_HANDLERS: Final[tuple[ResourceHandler, ...]] = (
    ApiGatewayV2Api(),
    ApiGatewayV2Integration(),
    ApiGatewayV2Route(),
    ApiGatewayV2RouteResponse(),
    ApiGatewayV2Deployment(),
    ApiGatewayV2Stage(),
)
