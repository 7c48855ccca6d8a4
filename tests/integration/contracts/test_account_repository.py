"""AccountRepository's contract: the memory fake and the SQLAlchemy adapter (SQLite and
PostgreSQL) store accounts and spend second-factor codes alike."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from minimart.domain.actors import Role
from minimart.domain.errors import Conflict
from minimart.domain.ids import new_id
from tests.integration.contracts.conftest import T0, make_account


class TestAccountRepository:
    def test_an_added_account_reads_back_by_id_and_by_email(self, store):
        account = make_account("shopper@example.com", role=Role.STAFF, disabled=True,
                               created_at=T0 + timedelta(microseconds=42))

        store.work(lambda r: r.accounts.add(account))

        assert store.read(lambda r: r.accounts.get(account.id)) == account
        assert store.read(lambda r: r.accounts.get_by_email("shopper@example.com")) == account

    def test_missing_accounts_read_as_none(self, store):
        store.work(lambda r: r.accounts.add(make_account("a@example.com")))

        assert store.read(lambda r: r.accounts.get(new_id())) is None
        assert store.read(lambda r: r.accounts.get_by_email("b@example.com")) is None

    def test_adding_a_taken_email_is_an_email_taken_conflict_that_keeps_the_first(self, store):
        first = make_account("shopper@example.com", name="First")
        store.work(lambda r: r.accounts.add(first))

        with pytest.raises(Conflict) as raised:
            store.work(lambda r: r.accounts.add(make_account("shopper@example.com",
                                                             name="Second")))

        assert raised.value.code == "email_taken"
        assert store.read(lambda r: r.accounts.get_by_email("shopper@example.com")) == first

    def test_set_password_hash_replaces_only_the_hash(self, store):
        account = make_account()
        store.work(lambda r: r.accounts.add(account))

        store.work(lambda r: r.accounts.set_password_hash(account.id, "$argon2id$newer"))

        assert store.read(lambda r: r.accounts.get(account.id)) == replace(
            account, password_hash="$argon2id$newer")

    def test_a_phone_is_stored_with_the_account_and_absent_reads_as_none(self, store):
        with_phone = make_account("a@example.com", phone="+6591234567")
        without = make_account("b@example.com")
        store.work(lambda r: (r.accounts.add(with_phone), r.accounts.add(without)))

        assert store.read(lambda r: r.accounts.get(with_phone.id)).phone == "+6591234567"
        assert store.read(lambda r: r.accounts.get_by_email("a@example.com")) == with_phone
        assert store.read(lambda r: r.accounts.get(without.id)).phone is None

    def test_save_changes_the_name_and_the_phone_and_can_clear_the_phone(self, store):
        account = make_account(name="Sam")
        store.work(lambda r: r.accounts.add(account))
        named = replace(account, name="Samantha", phone="+14155550123")

        store.work(lambda r: r.accounts.save(named))
        assert store.read(lambda r: r.accounts.get(account.id)) == named

        store.work(lambda r: r.accounts.save(replace(named, phone=None)))
        assert store.read(lambda r: r.accounts.get(account.id)) == replace(named, phone=None)

    def test_a_totp_step_is_taken_once_and_only_newer_steps_after_it(self, store):
        account = make_account()
        store.work(lambda r: r.accounts.add(account))

        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1000)) is True
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1000)) is False
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 999)) is False
        assert store.work(lambda r: r.accounts.use_totp_step(account.id, 1001)) is True
        assert store.read(lambda r: r.accounts.get(account.id)).totp_last_step == 1001

    def test_a_recovery_code_is_spent_once_and_the_others_stay(self, store):
        account = replace(make_account(), recovery_codes=("aa", "bb", "cc"))
        store.work(lambda r: r.accounts.add(account))

        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "bb")) is True
        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "bb")) is False
        assert store.work(lambda r: r.accounts.spend_recovery_code(account.id, "zz")) is False
        assert store.read(lambda r: r.accounts.get(account.id)).recovery_codes == ("aa", "cc")
