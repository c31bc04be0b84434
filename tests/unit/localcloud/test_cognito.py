"""Users per role in a deployed user pool, signed in for real, and what moto's ID tokens carry."""

from __future__ import annotations

import string

import pytest
from botocore.exceptions import ClientError

from cirrus.localcloud import cognito
from cirrus.localcloud.emulator import Emulator
from cirrus.localcloud.provisioner import Deployment, deploy
from tests.support.tokens import claims_of
from tests.unit.localcloud.deploy_fixtures import write_project
from tests.unit.localcloud.helpers import unique

ROLES = ("ml_engineer", "data_scientist", "model_reviewer", "admin")

POOL_TEMPLATE = """
Resources:
  UserPool:
    Type: AWS::Cognito::UserPool
    Properties:
      UsernameAttributes: [email]
      AdminCreateUserConfig:
        AllowAdminCreateUserOnly: true
      Policies:
        PasswordPolicy:
          MinimumLength: 12
          RequireLowercase: true
          RequireUppercase: true
          RequireNumbers: true
          RequireSymbols: true
  UserPoolClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
  SecretClient:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref UserPool
      GenerateSecret: true
      ExplicitAuthFlows: [ALLOW_USER_PASSWORD_AUTH, ALLOW_REFRESH_TOKEN_AUTH]
""" + "".join(
    f"""
  {role.title().replace("_", "")}Group:
    Type: AWS::Cognito::UserPoolGroup
    Properties:
      UserPoolId: !Ref UserPool
      GroupName: {role}
"""
    for role in ROLES
)


@pytest.fixture(scope="module")
def pool(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    template = write_project(tmp_path_factory.mktemp("pool"), POOL_TEMPLATE)
    return deploy(emulator, template, stack_name=unique("pool"))


def test_one_user_per_role_signs_in_with_groups_and_username_in_the_id_token(
    emulator: Emulator, pool: Deployment
) -> None:
    users = cognito.create_role_users(emulator, pool.physical_id("UserPool"), email_domain="roles.local")

    assert sorted(users) == sorted(ROLES)
    for role, user in users.items():
        assert user.username == f"{role.replace('_', '-')}@roles.local"
        claims = claims_of(cognito.id_token(emulator, pool.physical_id("UserPoolClient"), user))
        assert claims["cognito:groups"] == [role]
        # Usernames are email addresses in this pool: Cognito names the user by sub, as moto does.
        assert claims["cognito:username"] == user.sub == claims["sub"]
        assert claims["email"] == user.username
        assert claims["token_use"] == "id"


def test_creating_a_user_again_resets_the_password_and_keeps_it_usable(
    emulator: Emulator, pool: Deployment
) -> None:
    pool_id, client_id = pool.physical_id("UserPool"), pool.physical_id("UserPoolClient")
    username = f"{unique('again')}@cirrus.local"
    first = cognito.create_user(emulator, pool_id, username, cognito.generate_password(), groups=["admin"])

    second = cognito.create_user(emulator, pool_id, username, cognito.generate_password(), groups=["admin"])

    assert second.sub == first.sub
    assert cognito.sign_in(emulator, client_id, username, second.password).id_token
    with pytest.raises(ClientError, match="NotAuthorizedException"):
        cognito.sign_in(emulator, client_id, username, first.password)


def test_a_client_with_a_secret_signs_in_with_the_secret_hash(emulator: Emulator, pool: Deployment) -> None:
    user = cognito.create_user(
        emulator,
        pool.physical_id("UserPool"),
        f"{unique('secret')}@cirrus.local",
        cognito.generate_password(),
    )
    secret_client = pool.resource("SecretClient")

    tokens = cognito.sign_in(
        emulator,
        secret_client.physical_id,
        user.username,
        user.password,
        client_secret=secret_client.attributes["ClientSecret"],
    )

    assert claims_of(tokens.id_token)["aud"] == secret_client.physical_id


def test_generated_passwords_meet_the_strictest_policy() -> None:
    for _ in range(50):
        password = cognito.generate_password()
        assert len(password) >= 12
        assert any(char in string.ascii_uppercase for char in password)
        assert any(char in string.ascii_lowercase for char in password)
        assert any(char in string.digits for char in password)
        assert any(char in "!#%+-=?@^_" for char in password)
