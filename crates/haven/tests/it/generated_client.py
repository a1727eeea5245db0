"""Haven as an integrator meets it: through a client that openapi-python-client generated
from the served OpenAPI document (the test puts the generated package on the path as
`haven_client`). Lists clients, registers one, finds it, reads appointments and sends a
bad page size; prints what it saw as one JSON object for the test to check.

Every answer is parsed into the generated models, so a response the document does not
describe (an enum's word, a missing field, an undocumented status) fails here.
"""

import json
import os

from haven_client import AuthenticatedClient
from haven_client.api.appointments import get_appointments
from haven_client.api.clients import get_clients, post_clients
from haven_client.models import Appointment, Chart, ClientFields, ErrorEnvelope, ResultPage

client = AuthenticatedClient(
    base_url=os.environ["HAVEN_URL"],
    token=os.environ["HAVEN_TOKEN"],
    raise_on_unexpected_status=True,
)

before = get_clients.sync(client=client, per_page=100)
assert isinstance(before, ResultPage), before

made = post_clients.sync(
    client=client,
    body=ClientFields.from_dict({"legal_given_name": "Quinn", "legal_family_name": "Marlowe"}),
)
assert isinstance(made, Chart), made

found = get_clients.sync(client=client, q="Marlowe")
assert isinstance(found, ResultPage), found

appointments = get_appointments.sync(client=client, from_=os.environ["FROM"], to=os.environ["TO"])
assert isinstance(appointments, list) and all(isinstance(a, Appointment) for a in appointments), appointments

refused = get_clients.sync_detailed(client=client, per_page=500)
assert isinstance(refused.parsed, ErrorEnvelope), refused

print(
    json.dumps(
        {
            "listed_before": len(before.clients),
            "registered": {"id": str(made.id), "record_number": made.record_number, "status": made.status.value},
            "found": [str(c.id) for c in found.clients],
            "appointments": [
                {"id": str(a.id), "status": a.status.value, "clients": [str(c.id) for c in a.clients]}
                for a in appointments
            ],
            "refused": {
                "status": refused.status_code.value,
                "error_code": refused.parsed.error_code,
                "fields": [f["field"] for f in json.loads(refused.content)["details"]["fields"]],
            },
        }
    )
)
