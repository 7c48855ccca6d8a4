"""AccountService: registration, sign-in with throttling and TOTP, and account management."""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import timedelta

from minimart.domain.accounts import (
    ISSUER,
    RECOVERY_CODES,
    Account,
    LoginPolicy,
    OtpRequired,
    OtpUsed,
    RateLimited,
    RegistrationPolicy,
    TotpEnrolment,
    _account_key,
    _digest,
    _minutes,
    check_email_spelling,
    check_name,
    check_password_rules,
    normalize_email,
)
from minimart.domain.actors import Actor, Permission, Role
from minimart.domain.audit import audit_event
from minimart.domain.errors import (
    EmailTaken,
    Forbidden,
    InvalidCredentials,
    InvalidState,
    NotFound,
    TotpEnrolmentRequired,
    Unavailable,
    ValidationFailed,
)
from minimart.domain.ids import new_id
from minimart.domain.ports.accounts import OneTimePasswords, PasswordHasher, Throttle
from minimart.domain.ports.clock import Clock
from minimart.domain.ports.unit_of_work import UnitOfWork
from minimart.domain.services.account_profile import AccountProfile


class AccountService:
    def __init__(self, uow: UnitOfWork, hasher: PasswordHasher, clock: Clock,
                 otp: OneTimePasswords, *, policy: LoginPolicy | None = None,
                 registration_policy: RegistrationPolicy | None = None) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock
        self._otp = otp
        self._policy = policy or LoginPolicy()
        self._registration_policy = registration_policy or RegistrationPolicy()
        self._profile = AccountProfile(uow, clock)

    # --- creating -------------------------------------------------------
    def register(self, email: str, password: str, name: str, actor: Actor,
                 client: str | None = None) -> Account:
        """A shopper signs up; the public road only ever makes customers.

        Every attempt from a client address counts, whatever it answers (an `email_taken`
        probe too), except a password the rules refuse before any hashing: past the limit
        the answer is 429 with Retry-After, before the email is looked up or anything hashed.
        """
        check_password_rules(password)
        if not client:
            return self._create(email, password, name, Role.CUSTOMER, actor)
        policy = self._registration_policy
        keys = {f"address:{client}": policy.max_per_address}
        self._take(self._uow.registration_throttle, keys, policy.window, lambda left: (
            "too many accounts were created from your network just now; "
            f"please try again in {_minutes(left)}"))
        try:
            return self._create(email, password, name, Role.CUSTOMER, actor)
        except Unavailable:  # no hashing slot: nothing was tried, so nothing is counted
            self._give_back(self._uow.registration_throttle, keys)
            raise

    def create_account(self, email: str, password: str, name: str, role: Role,
                       actor: Actor) -> Account:
        """Staff and admins are made by someone allowed to manage accounts (the owner's CLI)."""
        actor.require(Permission.ACCOUNTS_MANAGE)
        return self._create(email, password, name, role, actor)

    def _create(self, email: str, password: str, name: str, role: Role,
                actor: Actor) -> Account:
        check_password_rules(password)
        email = normalize_email(email)
        check_email_spelling(email)
        if self._uow.accounts.get_by_email(email) is not None:
            raise EmailTaken("an account with this email exists")
        now = self._clock.now()
        account = Account(id=new_id(), email=email, name=check_name(name), role=role,
                          password_hash=self._hasher.hash(password), created_at=now)
        self._uow.accounts.add(account)
        # a shopper signing up acts for themselves; the CLI acts as the system
        who = actor if actor.audit_id is not None else replace(actor, account_id=account.id)
        self._record(who, "account.created", account.id,
                     {"email": [None, email], "name": [None, account.name],
                      "role": [None, role.value]})
        return account

    # --- signing in -----------------------------------------------------
    def authenticate(self, email: str, password: str, client: str | None = None,
                     otp: str | None = None) -> Account:
        """The same answer for an unknown email and a wrong password, in about the same time.

        Attempts are counted per (account, client address) with growing delays, and per
        address in a window (LoginPolicy), in the database (so every process sees them),
        and committed BEFORE the password is checked: of any number of racing guesses only
        the allowance's worth are checked, and the count stands although the request fails.
        Refused, the answer is 429 with Retry-After. A sign-in that succeeds clears its
        pair's count and gives back its address's attempt; a right password still waiting
        for its second factor gives back both.
        """
        email = normalize_email(email)
        account_key, address_key = _account_key(email, client), f"address:{client}"
        keys = {account_key: 0}
        if client:
            keys[address_key] = 0
        self._take_sign_in(account_key, address_key if client else None)
        account = self._uow.accounts.get_by_email(email)
        if account is not None and account.disabled:
            account = None
        try:  # an unknown email costs a check too, so it takes about as long
            right = self._hasher.verify(
                self._hasher.dummy_hash() if account is None else account.password_hash,
                password)
        except Unavailable:  # no hashing slot: nothing was tried, so nothing is counted
            self._give_back(self._uow.login_throttle, keys)
            raise
        if account is None or not right:
            raise InvalidCredentials("wrong email or password")
        if account.totp_enabled:
            if not otp:
                self._give_back(self._uow.login_throttle, keys)
                raise OtpRequired("enter the code from your authenticator app")
            second = self._second_factor(account, otp)  # OtpUsed: a code used before
            if second is None:
                raise InvalidCredentials("wrong email or password")
            account = second
        elif self._policy.require_totp_for_staff and account.is_staff:
            self._give_back(self._uow.login_throttle, keys)
            raise TotpEnrolmentRequired("this shop requires two-factor sign-in for staff: "
                                        "enrol first (`minimart enrol-totp`)")
        self._uow.login_throttle.clear(account_key)
        if client:
            self._uow.login_throttle.give_back(address_key)
        if self._hasher.needs_rehash(account.password_hash):
            with contextlib.suppress(Unavailable):  # busy: the next sign-in rehashes
                self._uow.accounts.set_password_hash(account.id, self._hasher.hash(password))
        return account

    def _take_sign_in(self, account_key: str, address_key: str | None) -> None:
        """Count a sign-in attempt against its address (a window) and its (account, address)
        pair (growing delays), then commit; refused by either, nothing stays counted."""
        policy, now = self._policy, self._clock.now()
        until = None if address_key is None else self._uow.login_throttle.take(
            address_key, policy.max_failures_per_address, now, policy.window)
        if until is None:
            until = self._uow.login_throttle.back_off(account_key, now, policy.wait,
                                                      policy.forget_after)
            if until is not None and address_key is not None:
                self._uow.login_throttle.give_back(address_key)
        if until is not None:
            left = until - now
            raise RateLimited("too many failed sign-ins; try again later",
                              retry_after=max(1, math.ceil(left.total_seconds())))
        self._uow.commit()

    def unlock(self, email: str, actor: Actor) -> tuple[Account, int]:
        """The owner forgets an account's failed sign-ins from every address (say, a clerk
        who mistyped their way into a long delay); audited. The account, and how many
        addresses had failures counted."""
        actor.require(Permission.ACCOUNTS_MANAGE)
        account = self.find_by_email(email)
        cleared = self._uow.login_throttle.clear_prefixed(_account_key(account.email, None),
                                                f"{_account_key(account.email, None)} from:")
        self._record(actor, "account.unlocked", account.id,
                     {"throttled_addresses": [cleared, 0]})
        return account, cleared

    def forget_old_attempts(self) -> int:
        """Drop sign-in and registration counters that no longer count for anything (run
        from cron with `minimart expire-orders`); how many."""
        now, policy = self._clock.now(), self._policy
        kept = max(policy.window, policy.forget_after, policy.longest_delay)
        registrations_kept = self._registration_policy.window
        return (self._uow.login_throttle.forget_before(now - kept)
                + self._uow.registration_throttle.forget_before(now - registrations_kept))

    def _take(self, throttle: Throttle, limits: dict[str, int], window: timedelta,
              refusal: Callable[[timedelta], str]) -> None:
        """Count this attempt under every key, then commit: the counts stand for every
        process before any slow work starts, and no row stays locked while it runs. Past
        a limit nothing is counted and the answer is 429 (`refusal` words it, given the
        time left)."""
        now = self._clock.now()
        taken: list[str] = []
        for key, limit in limits.items():
            until = throttle.take(key, limit, now, window)
            if until is not None:
                for done in taken:
                    throttle.give_back(done)
                left = until - now
                raise RateLimited(refusal(left),
                                  retry_after=max(1, int(left.total_seconds()) + 1))
            taken.append(key)
        self._uow.commit()

    def _give_back(self, throttle: Throttle, keys: dict[str, int]) -> None:
        """An attempt that turned out no failure (a right password whose second factor is
        to come, a check that found no hashing slot): uncount it, committed, as the
        request fails."""
        for key in keys:
            throttle.give_back(key)
        self._uow.commit()

    def _second_factor(self, account: Account, code: str) -> Account | None:
        """A current TOTP code not used before, or an unused recovery code (spent on use).
        A code seen over someone's shoulder, or replayed from a log, opens nothing."""
        if account.totp_secret is not None:
            step = self._otp.matching_step(account.totp_secret, code, self._clock.now())
            if step is not None:
                if not self._uow.accounts.use_totp_step(account.id, step):
                    # this code, or a newer one, was accepted already: the password was
                    # right, so saying so tells nothing about it
                    raise OtpUsed("this code was already used; wait for the next one "
                                  "from your authenticator app")
                return replace(account, totp_last_step=step)
        digest = _digest(code)
        if digest not in account.recovery_codes or \
                not self._uow.accounts.spend_recovery_code(account.id, digest):
            return None
        spent = replace(account, recovery_codes=tuple(c for c in account.recovery_codes
                                                       if c != digest))
        self._record(Actor(account.id, account.role), "account.recovery_code_used",
                     account.id, {"recovery_codes_left": [len(account.recovery_codes),
                                                          len(spent.recovery_codes)]})
        return spent

    def find_active(self, account_id: str, token_generation: int | None = None) -> Account | None:
        """The account behind a token, if it still exists, may still sign in, and the token
        was issued after its last password change or disabling."""
        account = self._uow.accounts.get(account_id)
        if account is None or account.disabled:
            return None
        if token_generation is not None and token_generation != account.token_generation:
            return None
        return account

    def find_signed_in(self, account_id: str, token_generation: int,
                       sign_in_id: str) -> Account | None:
        """The account of a browser sign-in, unless the sign-in was ended (signed out)
        or the account may no longer sign in."""
        if self._uow.ended_sign_ins.has_ended(sign_in_id):
            return None
        return self.find_active(account_id, token_generation)

    def sign_out(self, sign_in_id: str, lasting: timedelta) -> None:
        """End a browser sign-in for good: a copy of its cookie opens nothing any more.
        `lasting` is how long the cookie could still have been used."""
        now = self._clock.now()
        self._uow.ended_sign_ins.end(sign_in_id, now + lasting, now)

    # --- changing -------------------------------------------------------
    def change_password(self, account_id: str, current: str, new: str, actor: Actor) -> None:
        """A new password revokes every token issued before it."""
        account = self._get(account_id)
        if actor.account_id != account.id:
            raise Forbidden("only the account's owner changes its password")
        if not self._hasher.verify(account.password_hash, current):
            raise InvalidCredentials("the current password is wrong")
        check_password_rules(new)
        self._uow.accounts.save(replace(account, password_hash=self._hasher.hash(new),
                                    token_generation=account.token_generation + 1))
        self._record(actor, "account.password_changed", account.id, {"password": ["*", "*"]})

    def update_profile(self, account_id: str, changes: Mapping[str, str | None],
                       actor: Actor) -> Account:
        """The owner changes their name and phone (None clears it); see AccountProfile."""
        return self._profile.update(account_id, changes, actor)

    def disable(self, email: str, actor: Actor) -> Account:
        """Stop an account signing in; its tokens stop working at once."""
        actor.require(Permission.ACCOUNTS_MANAGE)
        account = self.find_by_email(email)
        if account.disabled:
            return account
        disabled = replace(account, disabled=True,
                           token_generation=account.token_generation + 1)
        self._uow.accounts.save(disabled)
        self._record(actor, "account.disabled", account.id, {"disabled": [False, True]})
        return disabled

    def begin_totp(self, account_id: str, password: str, actor: Actor) -> TotpEnrolment:
        """Start two-factor sign-in: the secret and recovery codes are shown this once."""
        account = self._get(account_id)
        if not (actor.is_system or actor.account_id == account.id):
            raise Forbidden("only the account's owner enrols its second factor")
        if not account.is_staff:
            raise Forbidden("two-factor sign-in is for staff and admin accounts")
        if not actor.is_system and not self._hasher.verify(account.password_hash, password):
            raise InvalidCredentials("the password is wrong")
        if account.totp_enabled and not actor.is_system:
            # re-enrolling would switch the second factor off until confirmed: the owner
            # resets it with `minimart enrol-totp` instead
            raise InvalidState("two-factor sign-in is already on; ask the owner to reset it")
        secret = self._otp.new_secret()
        codes = [f"{secrets.token_hex(5)}-{secrets.token_hex(5)}" for _ in range(RECOVERY_CODES)]
        self._uow.accounts.save(replace(account, totp_secret=secret, totp_enabled=actor.is_system,
                                    recovery_codes=tuple(_digest(c) for c in codes),
                                    totp_last_step=None))
        self._record(actor, "account.totp_enrolment_started", account.id,
                     {"totp_enabled": [account.totp_enabled, actor.is_system]})
        return TotpEnrolment(self._otp.uri(secret, account.email, ISSUER), codes)

    def confirm_totp(self, account_id: str, code: str, actor: Actor) -> None:
        """The first correct code proves the app holds the secret; from then on it is asked."""
        account = self._get(account_id)
        if actor.account_id != account.id:
            raise Forbidden("only the account's owner confirms its second factor")
        if account.totp_secret is None or self._otp.matching_step(
                account.totp_secret, code, self._clock.now()) is None:
            raise ValidationFailed("the code is not right", details={"code": ["not right"]})
        self._uow.accounts.save(replace(account, totp_enabled=True))
        self._record(actor, "account.totp_enabled", account.id, {"totp_enabled": [False, True]})

    def find_by_email(self, email: str) -> Account:
        account = self._uow.accounts.get_by_email(normalize_email(email))
        if account is None:
            raise NotFound("no account has this email")
        return account

    def _get(self, account_id: str) -> Account:
        account = self._uow.accounts.get(account_id)
        if account is None:
            raise NotFound("no such account")
        return account

    def _record(self, actor: Actor, action: str, account_id: str,
                changes: dict[str, list[object]]) -> None:
        self._uow.audit.record(audit_event(actor, self._clock.now(), action, "account",
                                       account_id, changes))
