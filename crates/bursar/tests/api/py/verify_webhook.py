"""Verifies a delivered webhook with the official Standard Webhooks library.

Usage: verify_webhook.py SECRET HEADERS_JSON BODY_FILE
Prints "ok" when the signature verifies, else "rejected: <reason>".
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

secret, headers_json, body_file = sys.argv[1], sys.argv[2], sys.argv[3]
with open(body_file, "rb") as f:
    body = f.read()
try:
    Webhook(secret).verify(body, json.loads(headers_json))
    print("ok")
except Exception as error:  # the library raises WebhookVerificationError
    print(f"rejected: {error}")
