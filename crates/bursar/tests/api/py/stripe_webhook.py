"""Signs or verifies a Stripe webhook with the official Stripe library (PyPI `stripe`).

Usage:
  stripe_webhook.py sign SECRET TIMESTAMP BODY_FILE    prints a Stripe-Signature header value
  stripe_webhook.py verify SECRET HEADER BODY_FILE     prints the event id, or "rejected: …"
"""
import sys

import stripe

mode, secret, arg, body_file = sys.argv[1:5]
with open(body_file, "rb") as f:
    body = f.read().decode("utf-8")

if mode == "sign":
    timestamp = int(arg)
    # The library's own signing routine, the one its verifier checks against.
    signature = stripe.WebhookSignature._compute_signature(f"{timestamp}.{body}", secret)
    print(f"t={timestamp},v1={signature}")
else:
    try:
        event = stripe.Webhook.construct_event(body, arg, secret)
        print(event["id"])
    except stripe.SignatureVerificationError as error:
        print(f"rejected: {error}")
