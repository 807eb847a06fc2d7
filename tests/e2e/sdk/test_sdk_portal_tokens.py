"""Portal tokens through the sync SDK: the link is in the answer to create only, a listing pages through
the customer's tokens (revoked ones too), and a revoked link opens nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from meterflow_client import Meterflow, NotFoundError
from tests.e2e.sdk.exact import assert_exact
from tests.support import unique


def test_create_list_revoke(client: Meterflow) -> None:
    customer = client.customers.create(external_id=unique("ext"), name="Ada")
    expires = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    made = client.portal_tokens.create(customer_external_id=customer.external_id, label="Ada's link",
                                       expires_at=expires)
    assert len(made.token) == 64 and made.portal_url.endswith(f"/portal/{made.token}")
    assert (made.customer_id, made.expires_at, made.revoked_at) == (customer.id, expires, None)
    assert httpx.get(made.portal_url, timeout=30).status_code == 200
    listed = list(client.portal_tokens.list(customer_id=customer.id))
    assert [t.id for t in listed] == [made.id] and listed[0].token == ""
    revoked = client.portal_tokens.revoke(made.id)
    assert revoked.token.revoked_at is not None
    assert httpx.get(made.portal_url, timeout=30).status_code == 401
    with pytest.raises(NotFoundError):
        client.portal_tokens.create(customer_external_id=unique("nobody"))
    assert_exact([made, *listed, revoked])
