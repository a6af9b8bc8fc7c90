"""HTTP request and response models of the auth API. Requests refuse unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    SecretStr,
    StringConstraints,
)
from pydantic_extra_types.country import CountryAlpha2
from scifikpi_common.money import Money
from scifikpi_common.text import NoNul

from auth.domain import (
    AccountType,
    CompanyDetails,
    Registration,
    Role,
    Session,
    User,
    UserStatus,
    normalize_email,
)

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    NoNul,
]
NormalizedEmail = Annotated[
    EmailStr,
    BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v),
    AfterValidator(normalize_email),
    Field(
        max_length=320,
        examples=["ada@example.com"],
        description="Compared trimmed and lower-cased.",
    ),
]
NewPassword = Annotated[
    SecretStr,
    Field(
        description="10 to 128 characters; not a common password; "
        "must not contain the email's local part.",
        examples=["correct horse battery staple"],
    ),
]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RepresentativeIn(_Request):
    full_name: Name
    position: Name | None = None


class CompanyIn(_Request):
    name: Name
    tax_id: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
        NoNul,
        Field(
            description="Validated for `country` (e.g. a Russian INN with its check digits).",
            examples=["7707083893"],
        ),
    ]
    representative: RepresentativeIn


class _RegisterBase(_Request):
    email: NormalizedEmail
    password: NewPassword
    country: CountryAlpha2 = Field(description="ISO 3166-1 alpha-2.", examples=["RU"])
    initial_deposit: Money = Field(
        description="The registration deposit the user will pay; at least USD 10.00 equivalent."
    )


class IndividualRegistration(_RegisterBase):
    account_type: Literal["individual"]
    full_name: Name

    def to_command(self) -> Registration:
        return Registration(
            email=self.email,
            password=self.password.get_secret_value(),
            account_type=AccountType.individual,
            country=str(self.country),
            full_name=self.full_name,
            initial_deposit_minor=self.initial_deposit.amount_minor,
            initial_deposit_currency=self.initial_deposit.currency,
        )


class LegalEntityRegistration(_RegisterBase):
    account_type: Literal["legal_entity"]
    company: CompanyIn

    def to_command(self) -> Registration:
        rep = self.company.representative
        return Registration(
            email=self.email,
            password=self.password.get_secret_value(),
            account_type=AccountType.legal_entity,
            country=str(self.country),
            company=CompanyDetails(
                name=self.company.name,
                tax_id=self.company.tax_id,
                representative_full_name=rep.full_name,
                representative_position=rep.position,
            ),
            initial_deposit_minor=self.initial_deposit.amount_minor,
            initial_deposit_currency=self.initial_deposit.currency,
        )


RegisterRequest = Annotated[
    IndividualRegistration | LegalEntityRegistration, Field(discriminator="account_type")
]


class LoginRequest(_Request):
    email: Annotated[str, StringConstraints(min_length=1, max_length=320), NoNul] = Field(
        examples=["ada@example.com"]
    )
    password: Annotated[SecretStr, Field(min_length=1, max_length=1024)]


class RefreshTokenRequest(_Request):
    refresh_token: Annotated[SecretStr, Field(min_length=1, max_length=512)]


# --------------------------------------------------------------------------- responses


class RepresentativeOut(BaseModel):
    full_name: str
    position: str | None = None


class CompanyOut(BaseModel):
    name: str
    tax_id: str = Field(description="Normalized (compact) form.")
    representative: RepresentativeOut


class UserOut(BaseModel):
    id: UUID
    email: str
    account_type: AccountType
    status: UserStatus
    role: Literal["user", "admin"]
    country: str
    full_name: str | None = Field(default=None, description="For `individual` accounts.")
    company: CompanyOut | None = Field(default=None, description="For `legal_entity` accounts.")
    initial_deposit: Money
    created_at: datetime
    activated_at: datetime | None = None

    @classmethod
    def of(cls, user: User) -> UserOut:
        company = None
        if user.company is not None:
            company = CompanyOut(
                name=user.company.name,
                tax_id=user.company.tax_id,
                representative=RepresentativeOut(
                    full_name=user.company.representative_full_name,
                    position=user.company.representative_position,
                ),
            )
        return cls(
            id=user.id,
            email=user.email,
            account_type=user.account_type,
            status=user.status,
            role="admin" if user.role is Role.admin else "user",
            country=user.country,
            full_name=user.full_name,
            company=company,
            initial_deposit=Money(
                amount_minor=user.initial_deposit_minor, currency=user.initial_deposit_currency
            ),
            created_at=user.created_at,
            activated_at=user.activated_at,
        )


class AuthResponse(BaseModel):
    user: UserOut
    access_token: str = Field(description="EdDSA JWT; send as `Authorization: Bearer <token>`.")
    refresh_token: str = Field(description="Opaque; exchange at /auth/refresh. Single use.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until the access token expires.")

    @classmethod
    def of(cls, session: Session) -> AuthResponse:
        return cls(
            user=UserOut.of(session.user),
            access_token=session.access_token,
            refresh_token=session.refresh_token,
            expires_in=session.expires_in,
        )


class Jwk(BaseModel):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    use: Literal["sig"]
    alg: Literal["EdDSA"]


class Jwks(BaseModel):
    keys: list[Jwk]
