"""Payout account rules (domain/payout_accounts.py): what each payout method needs, and what an update may
not change."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from meterflow.domain.errors import FieldError
from meterflow.domain.modes import Mode
from meterflow.domain.payout_accounts import PayoutAccount, PayoutMethod, checked, updated

AT = datetime(2026, 3, 1, tzinfo=UTC)


def account(method: PayoutMethod = PayoutMethod.BANK_TRANSFER, **fields: str | None) -> PayoutAccount:
    return PayoutAccount("pac_1", Mode.TEST, "cus_1", "Ada", method, "NGN", False, {}, AT, AT, **fields)


@pytest.mark.parametrize(("made", "param"), [
    (account(bank_code="058"), "account_number"), (account(account_number="0123456789"), "bank_code"),
    (account(account_number="01 23", bank_code="058"), "account_number"),
    (account(PayoutMethod.MOBILE_MONEY), "mobile_money_number"),
    (account(PayoutMethod.MOBILE_MONEY, mobile_money_number="0241234567"), "mobile_money_number"),
])
def test_an_account_without_what_its_method_needs_is_a_400_naming_the_field(made: PayoutAccount,
                                                                            param: str) -> None:
    with pytest.raises(FieldError) as refused:
        checked(made)
    assert refused.value.param == param


def test_complete_accounts_pass_and_an_update_keeps_the_destination() -> None:
    bank = checked(account(account_number="0123456789", bank_code="058"))
    assert checked(account(PayoutMethod.MOBILE_MONEY, mobile_money_number="+233241234567"))
    later = datetime(2026, 3, 2, tzinfo=UTC)
    changed = updated(bank, {"account_name": "Ada L.", "bank_code": "999", "mobile_money_number": "+1"}, later)
    assert (changed.account_name, changed.bank_code, changed.mobile_money_number, changed.updated_at) == (
        "Ada L.", "058", None, later)
    with pytest.raises(FieldError):
        updated(bank, {"payout_method": PayoutMethod.MOBILE_MONEY}, later)
