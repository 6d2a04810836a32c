"""A Daraja (M-Pesa) simulator: a real HTTP server with Daraja's paths and bodies and its own books.

Tests and the demo point the real Daraja client at it; only the base URL differs (the paths and
body shapes are Daraja's, as listed below).

Daraja paths (every one but OAuth needs ``Authorization: Bearer <token>``, else 401 ``401.002.01``;
a wrong HTTP method is 404 ``404.001.04``; errors are ``{"requestId", "errorCode", "errorMessage"}``):

- ``GET /oauth/v1/generate?grant_type=client_credentials`` with Basic auth:
  ``{"access_token", "expires_in": "3599"}``.
- ``POST /mpesa/c2b/v1/registerurl`` and ``/v2/registerurl``: stores the URLs, answers the misspelt
  ``OriginatorCoversationID`` body. The version decides the C2B ``MSISDN``: v1 SHA-256, v2 masked.
- ``POST /mpesa/c2b/v1/simulate`` and ``/v2/simulate``: Daraja's sandbox trigger for one C2B payment.
- ``POST /mpesa/b2c/v3/paymentrequest``: validated (400 ``400.002.02``), a repeated
  OriginatorConversationID is 500 ``500.002.1001``; otherwise acknowledged, settled in the books and
  its result (or queue timeout) POSTed to the request's URLs as the scenario says.
- ``POST /mpesa/transactionstatus/v1/query`` by ``TransactionID`` or ``OriginalConversationID``:
  a B2C-shaped acknowledgement, then the result POSTed to its ``ResultURL`` from the books.
- ``POST /mpesa/stkpush/v1/processrequest``: recorded and acknowledged (no callback yet).
- ``POST /pulltransactions/v1/register`` and ``/pulltransactions/v1/query``: the books' C2B payments
  of the last 48 hours in the nested ``Response`` shape (``1000``; ``1001`` when there are none).

Control and books (plain JSON, no token):

- ``POST /simulator/scenario``: ``{"b2c": [outcome, ...]}`` appends to a FIFO queue, and each B2C
  request that passes the token check consumes one outcome (an invalid or duplicate request
  consumes one too); with the queue empty the sticky ``b2c_default`` applies, else ``success``.
  ``{"status": [...]}`` / ``status_default`` do the same for Transaction Status queries.
  ``{"reset": true}`` clears queues and defaults (applied first), ``{"expire_tokens": true}`` makes
  every issued token invalid. ``GET`` shows the state. An unknown outcome is a 400 naming the valid ones.
- ``GET /simulator/payments``: one object per B2C paid (``?all=1``: the failed ones too);
  ``GET /simulator/requests``: every B2C request received; ``GET /simulator/queries``: every
  Transaction Status query; ``GET /simulator/callbacks?wait=S``: ``{"pending", "deliveries"}``, every callback
  delivery with its URL, body, attempts, answer and error, in flight ones too (``done`` false; ``wait``
  first waits up to S seconds for the pending ones); ``GET /simulator/c2b``, ``/simulator/registrations``,
  ``/simulator/stk``.
- ``POST /simulator/c2b``: a customer paying: ``{"TransID"?, "Amount", "BillRefNumber", "MSISDN"?,
  "ShortCode"?, "TransTime"?, "copies": n, "concurrency": k, "validate": bool}`` or
  ``{"payments": [...], "concurrency": k, "validate": bool}``. The payment is recorded in the books
  (for Pull Transactions) and ``copies`` confirmations go to the registered ConfirmationURL from
  ``concurrency`` threads; answers ``{"payments": [...], "answers": {"200 Success": n}}``.

B2C outcomes: ``success``; ``fail:<ResultCode>`` (a number, or a string such as ``SFC_IC0003``);
``timeout`` (QueueTimeOutURL only, the payment completed; ``timeout:echo`` sends the request echo
instead of the ``Result`` envelope); ``no_callback`` (paid, nothing sent); ``callback_before_ack``
(the result is delivered and acknowledged before the HTTP answer); ``http_500`` (500
``500.003.1001``, nothing recorded); ``http_500_after_accept`` (paid and the result sent, but the
HTTP answer is that 500); ``duplicate_callback`` (result sent twice; ``duplicate_callback:concurrent``
sends both at once); ``slow:<seconds>`` (sleep, then as success); ``delay_callback:<seconds>``.

Callbacks go from background threads after the HTTP answer has been written; each delivery retries
connection errors and timeouts a few times (a receiving server restarting) and never changes the
outcome in the books.
"""

from ledger_app.gateways.simulator.app import Simulator
from ledger_app.gateways.simulator.outcomes import Outcome, parse_outcome
from ledger_app.gateways.simulator.server import base_url, main, run_forever, serve, stop
from ledger_app.gateways.simulator.wire import EAT, FORBIDDEN_URL_WORDS, BadRequest

__all__ = ["EAT", "FORBIDDEN_URL_WORDS", "BadRequest", "Outcome", "Simulator", "base_url", "main", "parse_outcome",
	"run_forever", "serve", "stop"]
