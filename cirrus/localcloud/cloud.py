"""The local cloud as one object: emulator, deployed template, users per role, API gateway.

`LocalCloud.start()` brings it all up and records where it listens in `<project>/.cirrus/local.json`,
so `cirrus local token` and `cirrus local status` in another terminal can find it.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from cirrus.localcloud.clients import new_client

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from cirrus.localcloud.emulator import Emulator
    from cirrus.localcloud.gateway import LocalGateway
    from cirrus.localcloud.provisioner import Deployment
    from cirrus.localcloud.websocket import LocalWebSocketServer

STATE_FILE = Path(".cirrus") / "local.json"
REGION = "us-east-1"
ROLE_USERS = {"ml_engineer": "alice", "data_scientist": "dana", "model_reviewer": "rui", "admin": "ada"}


@dataclass
class LocalUser:
    username: str
    password: str


@dataclass
class LocalCloudState:
    """Where a running local cloud listens, and its users' credentials (local, throwaway)."""

    api_url: str
    aws_endpoint_url: str
    region: str
    user_pool_id: str
    client_id: str
    artifact_bucket: str
    users: dict[str, LocalUser]
    pid: int
    started_at: float = field(default_factory=time.time)
    # The machine (CI) app client, when the template has one: OAuth client credentials at token_url.
    ci_client_id: str = ""
    ci_client_secret: str = ""
    token_url: str = ""
    # The live feed's WebSocket API (ws://127.0.0.1:<port>/<stage>), when the template has one.
    websocket_url: str = ""

    # -- persistence ------------------------------------------------------------------------------

    def save(self, project_dir: Path) -> Path:
        path = project_dir / STATE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2))
        path.chmod(0o600)
        return path

    @classmethod
    def find(cls, project_dir: Path) -> LocalCloudState | None:
        """The state of the local cloud started from this folder (or a parent), if any."""
        for folder in (project_dir, *project_dir.parents):
            path = folder / STATE_FILE
            if path.is_file():
                raw = json.loads(path.read_text())
                raw["users"] = {role: LocalUser(**user) for role, user in raw["users"].items()}
                return cls(**raw)
        return None

    @classmethod
    def load(cls, project_dir: Path) -> LocalCloudState:
        state = cls.find(project_dir)
        if state is None or not state.is_running():
            raise RuntimeError("No local cloud is running here; start one with `cirrus local up`.")
        return state

    # -- use --------------------------------------------------------------------------------------

    def is_running(self) -> bool:
        """True when the emulator that wrote this state still answers."""
        try:
            return requests.get(f"{self.aws_endpoint_url}/moto-api/", timeout=2).status_code < 500
        except requests.RequestException:
            return False

    def token(self, role: str) -> str:
        """A fresh Cognito ID token for the local user of `role`."""
        user = self.users[role]
        cognito = new_client("cognito-idp", self.aws_endpoint_url, self.region)
        result = cognito.initiate_auth(
            ClientId=self.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": user.username, "PASSWORD": user.password},
        )
        return str(result["AuthenticationResult"]["IdToken"])

    def ci_token(self, scope: str | None = None) -> str:
        """A fresh access token of the CI client (client credentials grant), for the CI routes."""
        if not self.ci_client_id:
            raise RuntimeError("The deployed template has no client credentials app client.")
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = requests.post(
            self.token_url, data=form, auth=(self.ci_client_id, self.ci_client_secret), timeout=10
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def describe(self) -> str:
        """What a user needs to start calling the API."""
        roles = ", ".join(f"{role} ({user.username})" for role, user in self.users.items())
        return "\n".join(
            [
                "Cirrus local cloud is up.",
                f"  API                 {self.api_url}",
                f"  API docs            {self.api_url}/docs",
                f"  AWS endpoint        {self.aws_endpoint_url}   (for boto3 and aws --endpoint-url)",
                f"  artifact bucket     {self.artifact_bucket}",
                f"  users               {roles}",
                *([f"  live feed           {self.websocket_url}?token=$TOKEN"] if self.websocket_url else []),
                *(
                    [f"  CI client           {self.ci_client_id}   (client credentials at {self.token_url})"]
                    if self.ci_client_id
                    else []
                ),
                "",
                "Get a token and call the API from another terminal:",
                "  TOKEN=$(cirrus local token --role ml_engineer)",
                f'  curl -H "Authorization: Bearer $TOKEN" {self.api_url}/models',
                "Press Ctrl-C to stop.",
            ]
        )


class LocalCloud:
    """Starts and stops the whole local platform."""

    def __init__(
        self,
        project_dir: Path,
        *,
        api_port: int = 0,
        aws_port: int = 0,
        stage: str = "dev",
        state_dir: Path | None = None,
        local_receivers: Sequence[str] = (),
    ) -> None:
        """`state_dir` is where `.cirrus/local.json` goes (the project folder unless told otherwise).

        `local_receivers`: `http://127.0.0.1:<port>` origins notification channels may point at
        (the template's `LocalReceiverOrigins`); every other loopback or private destination stays refused.
        """
        self._project_dir = project_dir
        self._state_dir = state_dir or project_dir
        self._api_port = api_port
        self._aws_port = aws_port
        self._stage = stage
        self._local_receivers = tuple(local_receivers)
        self._emulator: Emulator | None = None
        self._gateway: LocalGateway | None = None
        self._websocket: LocalWebSocketServer | None = None
        self._deployment: Deployment | None = None
        self._state: LocalCloudState | None = None
        self._stopped = threading.Event()

    def start(self, progress: Callable[[str], None] = lambda _: None) -> LocalCloudState:
        """Start the emulator, deploy template.yaml, create users, open the API."""
        from cirrus.localcloud import cognito
        from cirrus.localcloud.emulator import Emulator
        from cirrus.localcloud.gateway import LocalGateway
        from cirrus.localcloud.hooks import lambda_runtime
        from cirrus.localcloud.provisioner import deploy

        progress("starting the AWS emulator")
        self._emulator = Emulator(port=self._aws_port)
        self._emulator.start()
        # The template's functions will be called as soon as it is deployed: have reserve workers
        # import the common packages meanwhile, on the core the deployment leaves free.
        runtime = lambda_runtime.active_runtime()
        if runtime is not None:
            runtime.prewarm()
        progress("deploying template.yaml")
        deployment = deploy(
            self._emulator,
            self._project_dir / "template.yaml",
            # Local endpoints are ready in a second or two, not the minutes SageMaker takes.
            parameters={
                "Stage": self._stage,
                "EndpointPollSeconds": "1",
                # A failed notification is retried after 1 s, 2 s, 4 s ... rather than 30 s, 60 s ...
                "AlertDeliveryBackoffSeconds": "1",
                # A rule may be evaluated again 5 s after the last time, so a user's own run of the
                # evaluator (or a test's) is rarely turned away by the every-minute schedule.
                "AlertEvaluationSpacingSeconds": "5",
                "LocalReceiverOrigins": ",".join(self._local_receivers),
            },
            stack_name=f"cirrus-{self._stage}",
        )
        self._deployment = deployment
        progress("creating a user per role")
        pool_id = deployment.physical_id("UserPool")
        client_id = deployment.physical_id("UserPoolClient")
        users = {}
        for role, username in ROLE_USERS.items():
            password = f"Local-{secrets.token_urlsafe(12)}-1a"
            cognito.create_user(self._emulator, pool_id, username, password, groups=[role])
            users[role] = LocalUser(username, password)
        progress("opening the API gateway")
        self._gateway = LocalGateway(deployment, self._emulator, port=self._api_port)
        self._gateway.start()
        websocket_url = self._start_websocket(deployment, progress)
        ci_client_id, ci_client_secret = _machine_client(deployment)
        self._state = LocalCloudState(
            api_url=f"{self._gateway.url}/api/v1",
            aws_endpoint_url=self._emulator.endpoint_url,
            region=REGION,
            user_pool_id=pool_id,
            client_id=client_id,
            artifact_bucket=deployment.physical_id("ArtifactBucket"),
            users=users,
            pid=os.getpid(),
            ci_client_id=ci_client_id,
            ci_client_secret=ci_client_secret,
            token_url=f"{self._gateway.url}/oauth2/token",
            websocket_url=websocket_url,
        )
        self._state.save(self._state_dir)
        return self._state

    def _start_websocket(self, deployment: Deployment, progress: Callable[[str], None]) -> str:
        """Serve the template's WebSocket API (the live feed), if it has one; its URL, or ""."""
        from cirrus.localcloud.websocket import LocalWebSocketServer, websocket_apis

        if not websocket_apis(deployment):
            return ""
        progress("opening the live feed's WebSocket API")
        self._websocket = LocalWebSocketServer(deployment, self.emulator).start()
        # The publisher posts to API Gateway's management API: the local one, with the same code.
        self._websocket.point_functions_here()
        return self._websocket.url

    @property
    def state(self) -> LocalCloudState:
        """Where the running local cloud listens."""
        if self._state is None:
            raise RuntimeError("start() the local cloud first")
        return self._state

    @property
    def state_dir(self) -> Path:
        """The folder whose `.cirrus/local.json` tells other terminals where this cloud listens."""
        return self._state_dir

    @property
    def deployment(self) -> Deployment:
        """What the template deployed: physical ids, outputs, the API."""
        if self._deployment is None:
            raise RuntimeError("start() the local cloud first")
        return self._deployment

    @property
    def emulator(self) -> Emulator:
        """The running AWS emulator (for boto3 clients against it)."""
        if self._emulator is None:
            raise RuntimeError("start() the local cloud first")
        return self._emulator

    def token(self, role: str) -> str:
        """An ID token for the local user of `role`."""
        return self.state.token(role)

    def wait(self) -> None:
        """Block until stop() is called or the process is interrupted."""
        # A bounded wait in a loop, not one unbounded wait: the main thread then gets to run its
        # KeyboardInterrupt handler promptly when the user presses Ctrl-C.
        while not self._stopped.wait(0.5):
            continue

    def stop(self) -> None:
        """Stop the gateway and the emulator and forget the state file."""
        self._stopped.set()
        if self._websocket is not None:
            self._websocket.stop()
            self._websocket = None
        if self._gateway is not None:
            self._gateway.stop()
            self._gateway = None
        if self._emulator is not None:
            self._emulator.stop()
            self._emulator = None
        state_path = self._state_dir / STATE_FILE
        if self._state is not None and state_path.is_file():
            state_path.unlink()
        self._state = None


def _machine_client(deployment: Deployment) -> tuple[str, str]:
    """(id, secret) of the template's client credentials app client, or empty strings."""
    for client in deployment.of_type("AWS::Cognito::UserPoolClient"):
        if "client_credentials" in client.properties.get("AllowedOAuthFlows", ()):
            return client.physical_id, str(client.attributes.get("ClientSecret", ""))
    return "", ""
