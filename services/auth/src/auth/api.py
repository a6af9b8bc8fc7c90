"""HTTP routes of the auth service: parse the request, call one use case, commit, respond."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request, Response, status
from fastapi.responses import JSONResponse
from scifikpi_common.app import UoW
from scifikpi_common.db import committing
from scifikpi_common.errors import InvalidToken, PayloadTooLarge
from scifikpi_common.network import client_ip
from scifikpi_common.problems import problem_responses
from scifikpi_common.security import CurrentPrincipal

from auth import handlers
from auth.domain import (
    AccountBlocked,
    DepositBelowMinimum,
    EmailTaken,
    InvalidCredentials,
    InvalidRefreshToken,
    InvalidTaxId,
    RefreshTokenReused,
    TooManyLoginAttempts,
    UnsupportedCurrency,
    WeakPassword,
)
from auth.handlers import AuthDeps
from auth.schemas import (
    AuthResponse,
    Jwks,
    LoginRequest,
    RefreshTokenRequest,
    RegisterRequest,
    UserOut,
)


def get_deps(request: Request) -> AuthDeps:
    return request.app.state.auth


Deps = Annotated[AuthDeps, Depends(get_deps)]

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def login_address(request: Request, deps: AuthDeps) -> str | None:
    """The address failed logins are counted against (behind the gateway: the real client)."""
    peer = request.client.host if request.client else None
    forwarded = request.headers.get("x-forwarded-for")
    return client_ip(peer, forwarded, deps.settings.trusted_proxy_networks)


router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AuthResponse,
    responses=problem_responses(
        EmailTaken,
        WeakPassword,
        InvalidTaxId,
        UnsupportedCurrency,
        DepositBelowMinimum,
        PayloadTooLarge,
    ),
)
async def register(
    body: Annotated[RegisterRequest, Body()], uow: UoW, deps: Deps, response: Response
) -> AuthResponse:
    """Register an individual or a legal entity; the account waits for its deposit."""
    async with committing(uow):
        session = await handlers.register(body.to_command(), uow, deps)
    response.headers.update(NO_STORE)
    return AuthResponse.of(session)


@router.post(
    "/login",
    response_model=AuthResponse,
    responses=problem_responses(
        InvalidCredentials, AccountBlocked, TooManyLoginAttempts, PayloadTooLarge
    ),
)
async def login(
    body: LoginRequest, request: Request, uow: UoW, deps: Deps, response: Response
) -> AuthResponse:
    """Sign in with email and password; rate limited per account and per client IP."""
    async with committing(uow):
        session = await handlers.login(
            body.email, body.password.get_secret_value(), login_address(request, deps), uow, deps
        )
    response.headers.update(NO_STORE)
    return AuthResponse.of(session)


@router.post(
    "/refresh",
    response_model=AuthResponse,
    responses=problem_responses(InvalidRefreshToken, RefreshTokenReused, PayloadTooLarge),
)
async def refresh(
    body: RefreshTokenRequest, uow: UoW, deps: Deps, response: Response
) -> AuthResponse:
    """Exchange a refresh token for a new token pair (the old one is spent)."""
    async with committing(uow):
        session = await handlers.refresh(body.refresh_token.get_secret_value(), uow, deps)
    response.headers.update(NO_STORE)
    return AuthResponse.of(session)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=problem_responses(PayloadTooLarge),
)
async def logout(body: RefreshTokenRequest, uow: UoW) -> Response:
    """Revoke the refresh token and every token rotated from the same login."""
    async with committing(uow):
        await handlers.logout(body.refresh_token.get_secret_value(), uow)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", response_model=UserOut, responses=problem_responses(InvalidToken))
async def me(principal: CurrentPrincipal, uow: UoW) -> UserOut:
    """The signed-in user, read fresh from the database."""
    user = await handlers.get_user(principal.user_id, uow)
    if user is None:
        raise InvalidToken("The account of this token no longer exists.")
    return UserOut.of(user)


jwks_router = APIRouter(tags=["keys"])


@jwks_router.get("/.well-known/jwks.json", response_model=Jwks)
async def jwks(deps: Deps) -> JSONResponse:
    """Public keys that verify access tokens (current and previous signing keys)."""
    return JSONResponse(
        deps.tokens.jwks(),
        headers={"Cache-Control": f"public, max-age={deps.settings.jwks_max_age_s}"},
    )
