#!/usr/bin/env python3
"""Regenerate the synthetic parts of Refinery's bundled sample sources, byte for byte.

Writes (paths relative to ``seeds/sample/``):

* ``tickets/2025-01.jsonl``, ``tickets/2025-02.jsonl`` - customer-support tickets with
  planted exact, normalization-only and near duplicates, junk and empty bodies, PII,
  non-ASCII text and exactly one truncated (malformed) JSON line;
* ``annotations/topics.json`` - a multi-annotator Label Studio JSON export over the tickets;
* ``annotations/urgency_argilla/*``, ``annotations/urgency_sheet.csv``,
  ``annotations/topic_predictions.csv`` - an Argilla export and a CSV of urgency labels over the
  tickets, and a topic classifier's predictions for the Label Studio tasks (``label_samples.py``);
* ``documents/cargo/README.txt`` - the Cargo README.md saved again as text (BOM, CRLF,
  trailing blanks): equal to the .md only after whitespace normalization;
* ``documents/notes/refund-policy-todo.txt`` - a too-short note;
* ``EXPECTED.json`` - every planted count, computed by re-reading the written files;
* the counts table between the ``counts:start``/``counts:end`` markers of ``seeds/README.md``.

The real documents under ``documents/`` (Python docs, Rust/Cargo READMEs) are committed
as copied and are only read here. Standard library only; a fixed seed, no clock, no
environment. Usage::

    python3.11 seeds/generate_samples.py          # write the files, print the counts
    python3.11 seeds/generate_samples.py --check  # exit 1 if any file differs from a fresh run
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import random
import re
import sys
import unicodedata
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import combinations
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from label_samples import build_label_samples, label_sample_counts

SEED = 20250115
SEEDS_DIR = Path(__file__).resolve().parent
SAMPLE_DIR = SEEDS_DIR / "sample"
README = SEEDS_DIR / "README.md"
TOPICS = ("billing", "shipping", "technical", "account")
CHANNELS = ("email", "chat", "phone", "web")
TICKET_FILES = ("tickets/2025-01.jsonl", "tickets/2025-02.jsonl")
SHORT_CHARS = 50  # a normalized body shorter than this is "too short"
NEAR_DUP_MIN_JACCARD = 0.8  # planted near-duplicates are at least this similar (word 5-grams)
UNRELATED_MAX_JACCARD = 0.5  # any other pair of distinct tickets stays below this

# --------------------------------------------------------------------------------------
# Reference normalization (the one EXPECTED.json's counts are computed with)
# --------------------------------------------------------------------------------------

TAG = re.compile(r"<[^>]+>")
SPACE = re.compile(r"\s+")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{2,4})[ .-]\d{3,4}[ .-]\d{4}\b")
DIGIT_RUN = re.compile(r"\d(?:[ ().+-]?\d){6,}")  # 7+ digits with separators: anything phone-like

NORMALIZATION = (
    "replace every HTML tag <...> by a space; unescape HTML entities (&amp; -> &); Unicode NFC; "
    "lower-case; collapse every whitespace run (space, tab, CR, LF) to one space; strip"
)


def normalize(text: str) -> str:
    """The reference normalization documented in seeds/README.md."""
    text = html.unescape(TAG.sub(" ", text))
    text = unicodedata.normalize("NFC", text).lower()
    return SPACE.sub(" ", text).strip()


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = re.findall(r"\w+", normalize(text))
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def char_shingles(text: str, n: int = 5) -> set[str]:
    norm = normalize(text)
    return {norm[i : i + n] for i in range(max(1, len(norm) - n + 1))}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


# --------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------

# (first name, last name, e-mail local part); e-mail domains are reserved example domains.
CUSTOMERS = [
    ("Anna", "Schmidt", "anna.schmidt"),
    ("José", "Álvarez", "jose.alvarez"),
    ("Zoë", "Laurent", "zoe.laurent"),
    ("Liam", "O'Connor", "liam.oconnor"),
    ("Priya", "Raman", "priya.raman"),
    ("Tom", "Becker", "tom.becker"),
    ("Łukasz", "Wójcik", "lukasz.wojcik"),
    ("Mei", "Chen", "mei.chen"),
    ("Søren", "Østergaard", "soren.ostergaard"),
    ("Grace", "Mensah", "grace.mensah"),
    ("François", "Lefèvre", "francois.lefevre"),
    ("Emily", "Turner", "emily.turner"),
    ("Hiroshi", "Sato", "hiroshi.sato"),
    ("Fatima", "Haddad", "fatima.haddad"),
    ("Noah", "Williams", "noah.williams"),
    ("Ingrid", "Nilsson", "ingrid.nilsson"),
    ("Carlos", "Ruiz", "carlos.ruiz"),
    ("Olivia", "Brown", "olivia.brown"),
    ("Ahmed", "Karim", "ahmed.karim"),
    ("Sophie", "Dubois", "sophie.dubois"),
    ("Daniel", "Kim", "daniel.kim"),
    ("Chloé", "Martin", "chloe.martin"),
    ("Marek", "Novák", "marek.novak"),
    ("Aisha", "Bello", "aisha.bello"),
    ("Jack", "Murphy", "jack.murphy"),
    ("Elena", "Popescu", "elena.popescu"),
    ("Lucas", "Silva", "lucas.silva"),
    ("Hannah", "Weiß", "hannah.weiss"),
    ("Ravi", "Patel", "ravi.patel"),
    ("Sara", "Lindqvist", "sara.lindqvist"),
    ("Ben", "Cohen", "ben.cohen"),
    ("María", "Fernández", "maria.fernandez"),
    ("Kwame", "Asante", "kwame.asante"),
    ("Julia", "Rossi", "julia.rossi"),
    ("Owen", "Davies", "owen.davies"),
    ("Nadia", "Petrova", "nadia.petrova"),
]
PRODUCTS = [
    "wireless headphones",
    "smart thermostat",
    "espresso machine",
    "fitness tracker",
    "robot vacuum",
    "e-reader",
    "mechanical keyboard",
    "baby monitor",
    "portable speaker",
    "standing desk",
    "air purifier",
    "dash cam",
]
DEVICES = ["iPhone 13", "Pixel 7", "Galaxy S22", "Windows 11 laptop", "MacBook Air", "iPad", "Chromebook"]
BROWSERS = ["Chrome", "Firefox", "Safari", "Edge"]
CARRIERS = ["UPS", "DHL", "FedEx", "Royal Mail", "La Poste", "PostNL"]
CITIES = ["Leeds", "Lyon", "Rotterdam", "Kraków", "Porto", "Malmö", "Dublin", "Graz", "Bristol", "Zürich"]
PLANS = ["Basic", "Plus", "Pro", "Family", "Team"]
MONTHS = ["November", "December", "January"]
CODES = ["WELCOME10", "SPRING15", "FREESHIP", "LOYAL20", "STUDENT25"]
ERRORS = ["E-1042", "SYNC-409", "ERR_503", "E-2217", "AUTH-401", "TIMEOUT-88"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
PHONE_FORMATS = ["(415) 555-{n:04d}", "+1 415 555 {n:04d}", "415.555.{n:04d}", "+44 20 7946 {n:04d}", "212-555-{n:04d}"]

# One scenario = a problem plus the details and requests that fit it. Tickets that share a
# scenario are given different details and requests so that they do not become near-duplicates.
SCENARIOS: dict[str, list[tuple[str, list[str], list[str]]]] = {
    "billing": [
        (
            "I was charged twice for order {order} — two identical payments of {amount} show up on my card.",
            [
                "The second charge appeared on {weekday} and my bank says it is not a pre-authorisation.",
                "Both transactions are marked as completed in my banking app, not pending.",
                "I only clicked the pay button once, and I got a single order confirmation.",
            ],
            [
                "Could you please refund the duplicate payment as soon as possible?",
                "Please reverse the second charge and confirm it in writing.",
                "Can you tell me how long it takes for the duplicate to be returned to my card?",
            ],
        ),
        (
            "My invoice for {month} shows {amount}, but the {plan} plan is supposed to cost less than that.",
            [
                "The pricing page still lists the old price, and I have a screenshot of it.",
                "Nobody told me about a price increase before the renewal.",
                "The invoice has a line called 'adjustment' that I don't understand.",
            ],
            [
                "Please send me a corrected invoice and explain the difference.",
                "I'd like to understand where the extra amount comes from before I pay anything else.",
                "Could someone from the billing team go through the invoice with me?",
            ],
        ),
        (
            "I cancelled my {plan} subscription last month, and you still took {amount} on {weekday}.",
            [
                "I have the cancellation confirmation e-mail, dated before the renewal.",
                "The app says my subscription is inactive, yet the payment went through.",
                "This is the second month in a row that this has happened.",
            ],
            [
                "Please refund the payment and make sure nothing else is charged.",
                "Can you confirm the subscription is really cancelled and refund this month?",
                "I expect the money back, otherwise I will have to dispute it with my bank.",
            ],
        ),
        (
            "The discount code {code} was accepted at checkout, yet I was charged the full {amount}.",
            [
                "The order summary showed the reduced total right before I paid.",
                "A friend used the same code last week and it worked for her.",
                "The confirmation e-mail doesn't mention the discount at all.",
            ],
            [
                "Could you apply the discount retroactively and refund the difference?",
                "Please check what went wrong with the code and correct the charge.",
                "I'd be happy with a credit on my account for the difference.",
            ],
        ),
        (
            "I returned the {product} three weeks ago and I still haven't received my refund of {amount}.",
            [
                "The return was signed for at your warehouse on {weekday}, according to the tracking.",
                "One of your agents approved the refund by e-mail, but nothing has arrived since.",
                "I sent it back in the original packaging with the return form filled in.",
            ],
            [
                "Can you tell me when the refund will be processed and to which card it goes?",
                "Please chase this up, it's been far longer than the 14 days you promise.",
                "I'd like an update on the refund, or a reference I can give my bank.",
            ],
        ),
        (
            "My payment for order {order} keeps getting declined even though my card works everywhere else.",
            [
                "I've tried two different cards and PayPal, always the same error.",
                "My bank says they haven't blocked anything on their side.",
                "The page just says 'payment failed, try again later' without any detail.",
            ],
            [
                "Can you check whether something is wrong with your payment page?",
                "Is there another way to pay, for example by bank transfer?",
                "Please hold the items in my basket until this is fixed.",
            ],
        ),
        (
            "There is a charge of {amount} labelled 'service fee' on my last bill that nobody explained to me.",
            [
                "It wasn't there on any of my previous bills.",
                "I never agreed to any additional services.",
                "The fee isn't mentioned anywhere in your terms that I can find.",
            ],
            [
                "I'd like the extra charge reversed and a confirmation in writing.",
                "Please explain what this fee is for, or remove it.",
                "Could you tell me whether this fee will appear every month from now on?",
            ],
        ),
        (
            "I was billed for the annual {plan} plan when I clearly selected monthly billing.",
            [
                "The difference is {amount}, which is a lot for me right now.",
                "My account settings still say 'monthly', so this looks like a mistake on your side.",
                "I only noticed when my card statement arrived.",
            ],
            [
                "Please switch me to monthly billing and refund the rest.",
                "Can you cancel the annual charge and bill me for one month instead?",
                "Could you correct the plan and send me a new invoice?",
            ],
        ),
    ],
    "shipping": [
        (
            "My order {order} was supposed to arrive on {weekday}, but the tracking hasn't changed in five days.",
            [
                "The tracking number {tracking} just shows 'label created'.",
                "{carrier} told me to contact the sender, so here I am.",
                "I paid extra for express delivery, so I expected it within two days.",
            ],
            [
                "Please let me know what happened to my parcel and when I can expect it.",
                "Can you open an investigation with the carrier or send a replacement?",
                "If it can't be found, I'd like a refund of the shipping cost at least.",
            ],
        ),
        (
            "The tracking for order {order} says delivered, but nothing was left at my door or with my neighbours.",
            [
                "My neighbours have confirmed that nothing was delivered to them either.",
                "The delivery photo shows a door that isn't mine.",
                "I was at home all afternoon and nobody rang the bell.",
            ],
            [
                "Can you open a claim with {carrier} and send a replacement?",
                "Please find out where it was actually delivered.",
                "I would like a replacement sent out, or a full refund if that's not possible.",
            ],
        ),
        (
            "The {product} arrived with a crushed box and a cracked front panel.",
            [
                "I've taken photos of the damaged packaging and the device.",
                "The outer carton had clearly been dropped; one corner is completely flattened.",
                "It doesn't switch on at all, so it isn't just cosmetic damage.",
            ],
            [
                "Please arrange a replacement and a collection for the damaged one.",
                "How do I send it back, and will you cover the return postage?",
                "I'd prefer a refund rather than a replacement.",
            ],
        ),
        (
            "I received someone else's parcel instead of my {product}.",
            [
                "The label has my address on it, but the contents belong to another order.",
                "The packing slip inside mentions a different customer and order number.",
                "I haven't opened the inner packaging of the other item.",
            ],
            [
                "Please arrange a return label for the wrong item and send mine.",
                "How do I get the correct item, and what should I do with this one?",
                "Can you make sure the other customer gets their parcel too?",
            ],
        ),
        (
            "My package is stuck in customs in {city}, and {carrier} wants an import fee I wasn't told about.",
            [
                "The fee is {amount}, which is almost a third of the order value.",
                "Your website said all duties were included in the price.",
                "The parcel will be returned to you if I don't pay within a week.",
            ],
            [
                "Can you confirm who is responsible for the customs charge?",
                "Please either pay the fee or tell me how to get reimbursed.",
                "Could you contact {carrier} and sort this out with them?",
            ],
        ),
        (
            "Only two of the three items in order {order} were in the box.",
            [
                "The missing item is the {product}, the most expensive one.",
                "The packing slip lists all three items as packed.",
                "The box was sealed and undamaged when it arrived.",
            ],
            [
                "Please send the missing item as soon as possible.",
                "Can you check with the warehouse whether it was shipped separately?",
                "If it's out of stock, please refund that item.",
            ],
        ),
        (
            "I moved last week and need to change the delivery address for order {order} before it ships.",
            [
                "The new address is in {city}, about twenty minutes from the old one.",
                "The order status still says 'processing', so I hope there is time.",
                "My account profile already has the new address.",
            ],
            [
                "Could you update the address before the order leaves the warehouse?",
                "If the address can't be changed, please cancel the order so I can reorder.",
                "Please confirm by e-mail once the address has been updated.",
            ],
        ),
        (
            "The courier tried to deliver order {order} while I was home, but left a card saying nobody answered.",
            [
                "This is the third time it has happened with {carrier}.",
                "The card says the parcel is at a depot 30 km away with no public transport.",
                "I've been working from home all week and the doorbell works fine.",
            ],
            [
                "Can you arrange redelivery on a specific day?",
                "Please ask {carrier} to deliver it to the pick-up point instead.",
                "Could you use a different courier for my future orders?",
            ],
        ),
    ],
    "technical": [
        (
            "The app crashes every time I open it on my {device} since the update to version {version}.",
            [
                "I've already tried reinstalling the app and restarting the phone.",
                "It shows the splash screen for a second and then closes.",
                "It worked fine until the update on {weekday}.",
            ],
            [
                "Is this a known bug, and is there a workaround in the meantime?",
                "Is there a way to roll back to the previous version?",
                "Please let me know if you need crash logs from my side.",
            ],
        ),
        (
            "I get error {error} whenever I try to sync my data between my {device} and the website.",
            [
                "A colleague on the same network has exactly the same problem.",
                "The error appears after about thirty seconds of spinning.",
                "I logged out and back in, but the error stays.",
            ],
            [
                "Can you tell me how to get syncing working again? I use it every day for work.",
                "Is there a status page where I can see if the sync service is down?",
                "Please escalate this, I haven't been able to sync for a week.",
            ],
        ),
        (
            "The website shows a blank page after I click checkout in {browser}.",
            [
                "Clearing the cache and cookies didn't help.",
                "I tried a private window and turned off all extensions, same result.",
                "The browser console shows a script error, but I don't know what it means.",
            ],
            [
                "Could you look into it? I want to place the order today.",
                "Which browsers do you officially support?",
                "Can I place the order by phone or e-mail instead?",
            ],
        ),
        (
            "My {product} won't pair over Bluetooth with my {device} anymore.",
            [
                "It paired without problems for the first two months.",
                "Other Bluetooth devices connect to the phone without any trouble.",
                "I've done the factory reset from the manual twice.",
            ],
            [
                "Could your technical team tell me whether the device needs to be replaced?",
                "Is there a firmware update that fixes pairing issues?",
                "I'd appreciate step-by-step instructions to fix this.",
            ],
        ),
        (
            "Notifications stopped working on my {device} after I changed its language settings.",
            [
                "Notifications are enabled in both the app and the system settings.",
                "Switching the language back didn't bring them back.",
                "I only get them when the app is open, which defeats the point.",
            ],
            [
                "Is there a setting I'm missing?",
                "Could you check whether this is a bug with non-English languages?",
                "Please tell me what else I can try.",
            ],
        ),
        (
            "The export to CSV button in the reports section does nothing, and no file is downloaded.",
            [
                "It happens in both {browser} and the desktop app.",
                "Exporting to PDF still works, only CSV is broken.",
                "I need the export for my monthly report on {weekday}.",
            ],
            [
                "Is there another way to get my data out in the meantime?",
                "Could you send me the export by e-mail while you fix it?",
                "Please let me know when this will be fixed.",
            ],
        ),
        (
            "The firmware update for my {product} got stuck at 87% and now it won't turn on.",
            [
                "The power light blinks orange three times and then goes off.",
                "I left it plugged in overnight, but nothing changed.",
                "I followed the update instructions in the app exactly.",
            ],
            [
                "Is there a recovery mode, or do I need to send it in?",
                "Please tell me whether this is covered by the warranty.",
                "How do I get a working device back as quickly as possible?",
            ],
        ),
        (
            "Search in the app loads forever and then times out with error {error}.",
            [
                "It started after the maintenance window announced for {weekday}.",
                "Browsing categories works, only search is affected.",
                "It fails on Wi-Fi and on mobile data alike.",
            ],
            [
                "Are you aware of the problem, and when will it be fixed?",
                "Is there anything I can do on my side to make search work?",
                "Please let me know if you need my account details to reproduce it.",
            ],
        ),
    ],
    "account": [
        (
            "I can't log in to my account because the password reset e-mail never arrives.",
            [
                "I've checked my spam folder several times.",
                "I've tried three times from different browsers over two days.",
                "Other e-mails from you, like newsletters, do arrive.",
            ],
            [
                "Can you reset it manually or send the link to a different address?",
                "What else can I do to get back into my account?",
                "Could you check whether my address is blocked on your side?",
            ],
        ),
        (
            "My account was locked after too many login attempts, and the unlock link has expired.",
            [
                "I'm sure I was using the right password, it was saved in my password manager.",
                "I requested a new unlock link, but it expired before I could use it.",
                "I need access today because my order history is in there.",
            ],
            [
                "Please unlock the account or send me a link that works.",
                "How can I verify my identity to get the account unlocked?",
                "Could you extend the unlock link so I have time to use it?",
            ],
        ),
        (
            "I want to change the e-mail address on my account because I no longer use the old one.",
            [
                "The settings page says the address can't be changed while an order is open.",
                "I signed up with my work address about two years ago.",
                "The old address will be deleted at the end of the month.",
            ],
            [
                "What do I need to send you to get this changed?",
                "Could you make the change for me?",
                "Please tell me how to move my account to the new address.",
            ],
        ),
        (
            "Someone changed my account password, and it wasn't me.",
            [
                "There were two login alerts from {city} that were not me.",
                "My saved card details are still on the account.",
                "I noticed an order I didn't place in my history.",
            ],
            [
                "Please secure my account and tell me what was changed.",
                "Can you lock the account and cancel any open orders I didn't make?",
                "I'd like to know which data the other person could see.",
            ],
        ),
        (
            "I would like to delete my account and all the personal data you hold about me.",
            [
                "Under GDPR I understand you have one month to respond.",
                "I haven't used the service for over a year.",
                "Please also remove me from all marketing lists.",
            ],
            [
                "Please confirm once the account and data have been deleted.",
                "Could you also send me a copy of the data before deleting it?",
                "Tell me if you need anything from me to complete the deletion.",
            ],
        ),
        (
            "Two-factor authentication asks for a code, but I replaced my phone and lost the authenticator.",
            [
                "I don't have the backup codes; I didn't know I needed them.",
                "I still have access to the phone number on file, if that helps.",
                "The 'lost your device' link sends me back to the login page.",
            ],
            [
                "How can I verify my identity so you can turn off two-factor authentication?",
                "Could you send the code by text message instead?",
                "Please reset two-factor authentication on my account.",
            ],
        ),
        (
            "I have two accounts by mistake and would like to merge them into one.",
            [
                "One was created when I checked out as a guest.",
                "Both use slightly different spellings of my name.",
                "My loyalty points are split across the two.",
            ],
            [
                "Could you merge the accounts and keep the order history from both?",
                "Which account should I keep, and can you move the points over?",
                "Please close the duplicate once everything is moved.",
            ],
        ),
        (
            "My name is spelled wrong on my profile, and the edit button is greyed out.",
            [
                "The mistake also shows up on my invoices.",
                "I tried on the website and in the app.",
                "It was probably a typo when I registered.",
            ],
            [
                "Could you correct it for me?",
                "How can I change the name myself?",
                "Please make sure future invoices show the right name.",
            ],
        ),
    ],
}
GREETINGS = [
    "Hi,",
    "Hello,",
    "Hello support team,",
    "Dear Customer Service,",
    "Good morning,",
    "Hi there,",
    "Hey,",
    "To whom it may concern,",
]
SIGNOFFS = ["Thanks,", "Thank you,", "Best regards,", "Kind regards,", "Cheers,", "Many thanks,"]
EXTRAS = [
    "I've been a customer for {years} years and this has never happened before.",
    "This is quite urgent for me.",
    "Thanks in advance for your help.",
    "I'd appreciate a quick reply.",
    "Sorry for the long message.",
    "I already wrote about this once but got no answer.",
]
CHAT_OPENERS = ["hi", "hello?", "hey, quick question.", "hi, are you there?", "good afternoon"]
AGENT_NOTES = {
    "billing": [
        "Agent: checked the payment history and passed the case to the billing team.",
        "Agent: explained our refund timelines; follow-up e-mail promised within 48 hours.",
    ],
    "shipping": [
        "Agent: opened a case with the carrier; customer will be updated within 2 working days.",
        "Agent: logged the issue with the warehouse team and promised a call back.",
    ],
    "technical": [
        "Agent: went through basic troubleshooting with the caller; issue persists, escalated to tier 2.",
        "Agent: collected device and app details and created a bug report for engineering.",
    ],
    "account": [
        "Agent: verified the caller's identity with security questions and escalated to the accounts team.",
        "Agent: flagged the account for review; customer to be called back tomorrow.",
    ],
}
SUBJECTS = {
    "billing": [
        "Charged twice",
        "Question about my invoice",
        "Charged after cancelling",
        "Discount code not applied",
        "Refund not received",
        "Payment declined",
        "Unexpected fee on my bill",
        "Billed annually instead of monthly",
    ],
    "shipping": [
        "Where is my order?",
        "Parcel marked delivered but not received",
        "Damaged delivery",
        "Wrong item received",
        "Customs fee",
        "Missing item",
        "Change delivery address",
        "Failed delivery",
    ],
    "technical": [
        "App keeps crashing",
        "Sync error",
        "Checkout page blank",
        "Bluetooth pairing problem",
        "No notifications",
        "CSV export broken",
        "Firmware update failed",
        "Search not working",
    ],
    "account": [
        "Password reset not arriving",
        "Account locked",
        "Change e-mail address",
        "Account hacked?",
        "Delete my account",
        "Lost 2FA device",
        "Merge two accounts",
        "Name spelled wrong",
    ],
}

# Tickets that are not generated from the scenarios.
CAFE_BODY = (
    "Hello,\n\nI run a small café in {city} and since your update on {weekday} the card reader stops "
    "accepting contactless payments after about an hour. Restarting the reader fixes it for a while, "
    "then it happens again, and customers end up paying cash or leaving.\n\nIs there a fix or a setting "
    "I can change? Friday is our busiest day.\n\nMerci,\nZoë"
)
SPANISH_BODY = (
    "Hola, me han cobrado dos veces el pedido {order} (49,90 €). En mi banco aparecen los dos cargos "
    "como completados. ¿Podrían devolverme el cargo duplicado lo antes posible? Gracias, José"
)
GERMAN_BODY = (
    "Guten Tag, meine Bestellung {order} sollte schon am Montag ankommen, aber die Sendungsverfolgung "
    "zeigt seit fünf Tagen keine Änderung. Können Sie bitte beim Paketdienst nachfragen? Viele Grüße, "
    "Hannah Weiß"
)
HTML_CANONICAL = (
    "Hi,\n\nMy order {order} was supposed to arrive on Tuesday. I paid for express shipping & handling "
    "({amount}), so I expected it within two days, but the tracking page still says 'label created'.\n\n"
    "Please refund the shipping & handling charge or tell me when the parcel will arrive.\n\nThanks,\nOlivia"
)
JUNK_BODIES = ["asdf", "thanks!!", "test 123", "???", "pls call me back", "hello?? anyone"]
ORPHAN_BODIES = [
    (
        "account",
        "Hello, I'd like to add my partner as a second user on our Family plan, but the invite "
        "link says it has already been used. How do I send a new invitation? Thanks, Sam",
    ),
    (
        "shipping",
        "Hi, can you ship to a parcel locker? The checkout form only accepts street addresses "
        "and I'm rarely at home during the day. Regards, Kim",
    ),
]

# --------------------------------------------------------------------------------------
# Tickets
# --------------------------------------------------------------------------------------


class Ticket:
    __slots__ = ("body", "channel", "created_at", "customer", "id", "kind", "note", "of", "subject", "topic")

    def __init__(
        self,
        topic: str | None,
        customer: int,
        created_at: datetime,
        channel: str,
        subject: str,
        body: str,
        kind: str = "base",
        of: Ticket | None = None,
        note: str = "",
    ):
        self.topic, self.customer, self.created_at = topic, customer, created_at
        self.channel, self.subject, self.body = channel, subject, body
        self.kind, self.of, self.note = kind, of, note
        self.id = ""

    def record(self) -> dict:
        return {
            "ticket_id": self.id,
            "customer_id": f"C-{1001 + self.customer}",
            "created_at": self.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channel": self.channel,
            "subject": self.subject,
            "body": self.body,
        }


def customer_email(index: int, rng: random.Random) -> str:
    local = CUSTOMERS[index][2]
    return rng.choice(
        [f"{local}@example.com", f"{local}{rng.randint(1, 99)}@example.org", f"{local.split('.')[0]}@mail.example.net"]
    )


def fill(template: str, rng: random.Random, slots: dict[str, str]) -> str:
    values = {
        "order": slots.get("order") or f"ORD-{rng.randint(10000, 99999)}",
        "amount": rng.choice(
            [
                f"${rng.randint(9, 240)}.{rng.choice(['00', '49', '99'])}",
                f"€{rng.randint(9, 240)},{rng.choice(['00', '50', '90'])}",
                f"£{rng.randint(9, 240)}.{rng.choice(['00', '50', '99'])}",
            ]
        ),
        "plan": rng.choice(PLANS),
        "product": rng.choice(PRODUCTS),
        "device": rng.choice(DEVICES),
        "browser": rng.choice(BROWSERS),
        "carrier": slots.get("carrier") or rng.choice(CARRIERS),
        "city": rng.choice(CITIES),
        "month": rng.choice(MONTHS),
        "code": rng.choice(CODES),
        "error": rng.choice(ERRORS),
        "weekday": rng.choice(WEEKDAYS),
        "version": f"{rng.randint(3, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
        "tracking": f"TRK-{rng.randint(10000, 99999)}-{rng.choice(['UK', 'DE', 'FR', 'NL'])}",
        "years": str(rng.randint(2, 9)),
    }
    return template.format(**values)


def compose(
    topic: str, scenario: int, use: int, channel: str, customer: int, rng: random.Random, pii: str | None
) -> str:
    """One ticket body: the scenario's problem, a detail and a request rotated by `use`."""
    problem, details, requests = SCENARIOS[topic][scenario]
    slots = {"order": f"ORD-{rng.randint(10000, 99999)}", "carrier": rng.choice(CARRIERS)}
    problem = fill(problem, rng, slots)
    detail = fill(details[use % len(details)], rng, slots)
    request = fill(requests[(use + use // len(requests)) % len(requests)], rng, slots)
    extra = fill(rng.choice(EXTRAS), rng, slots) if rng.random() < 0.45 else ""
    first = CUSTOMERS[customer][0]
    contact = ""
    if pii == "email":
        contact = rng.choice(
            [
                "You can reach me at {e} if anything is unclear.",
                "Please reply to {e}, not to the address on my account.",
                "My contact e-mail is {e}.",
            ]
        ).format(e=customer_email(customer, rng))
    elif pii == "phone":
        number = rng.choice(PHONE_FORMATS).format(n=rng.randint(100, 199))
        contact = rng.choice(
            [
                "My number is {p}, I'm free after 5pm.",
                "Please call me back on {p}.",
                "You can call me at {p} during office hours.",
            ]
        ).format(p=number)
    elif pii == "both":
        number = rng.choice(PHONE_FORMATS).format(n=rng.randint(100, 199))
        contact = f"Contact me at {customer_email(customer, rng)} or on {number}."
    if channel == "email":
        middle = " ".join(s for s in (problem, detail, extra) if s)
        tail = " ".join(s for s in (request, contact) if s)
        return f"{rng.choice(GREETINGS)}\n\n{middle}\n\n{tail}\n\n{rng.choice(SIGNOFFS)}\n{first}"
    if channel == "chat":
        second = " ".join(s for s in (request, contact) if s)
        return f"{rng.choice(CHAT_OPENERS)}\n{problem} {detail}\n{second}"
    if channel == "phone":
        quote = " ".join(s for s in (problem, detail, contact) if s)
        return f'Call notes. Customer said: "{quote}" {rng.choice(AGENT_NOTES[topic])}'
    lines = [problem, detail, extra, request, contact, f"Name: {first} {CUSTOMERS[customer][1]}"]
    return "\n".join(s for s in lines if s)


def build_tickets(rng: random.Random) -> tuple[list[Ticket], Ticket]:
    """All tickets in created_at order (ids assigned), and the one whose line will be truncated."""
    start = datetime(2025, 1, 2, 8, 0, tzinfo=UTC)
    span = (datetime(2025, 2, 24, 18, 0, tzinfo=UTC) - start).total_seconds()

    def when() -> datetime:
        moment = start + timedelta(seconds=rng.randrange(int(span)))
        return moment.replace(hour=7 + moment.hour % 13)  # business-ish hours, UTC

    # 101 tickets from the scenarios (100 valid + the one that becomes the malformed line):
    # 30 billing, 27 shipping, 24 technical, 20 account; 2 of them are replaced below by the
    # Spanish (billing) and German (shipping) tickets, 1 by the café ticket, 1 by the HTML canonical.
    topic_plan = ["billing"] * 30 + ["shipping"] * 27 + ["technical"] * 24 + ["account"] * 20
    rng.shuffle(topic_plan)
    customer_plan = [i for i in range(len(CUSTOMERS)) for _ in range(2)]
    customer_plan += [rng.randrange(len(CUSTOMERS)) for _ in range(len(topic_plan) - len(customer_plan))]
    rng.shuffle(customer_plan)
    pii_plan = ["email"] * 8 + ["phone"] * 7 + ["both"] * 3 + [None] * (len(topic_plan) - 18)
    rng.shuffle(pii_plan)
    uses: Counter = Counter()
    base: list[Ticket] = []
    for topic, customer, pii in zip(topic_plan, customer_plan, pii_plan, strict=True):
        scenario = rng.randrange(len(SCENARIOS[topic]))
        use = uses[(topic, scenario)]
        uses[(topic, scenario)] += 1
        channel = rng.choices(CHANNELS, weights=(45, 25, 12, 18))[0]
        body = compose(topic, scenario, use, channel, customer, rng, pii)
        subject = SUBJECTS[topic][scenario]
        if channel == "chat":
            subject = f"Chat: {subject.lower()}"
        elif channel == "phone":
            subject = f"Phone call - {subject.lower()}"
        note = f"pii:{pii}" if pii else ""
        base.append(Ticket(topic, customer, when(), channel, subject, body, note=note))

    def replace(topic: str, body: str, channel: str, subject: str, customer: int, note: str) -> Ticket:
        victim = next(t for t in base if t.topic == topic and not t.note)
        victim.body, victim.channel, victim.subject, victim.customer, victim.note = (
            body,
            channel,
            subject,
            customer,
            note,
        )
        return victim

    names = [c[0] for c in CUSTOMERS]
    spanish = replace(
        "billing", fill(SPANISH_BODY, rng, {}), "email", "Cobro duplicado", names.index("José"), "non_english:es"
    )
    german = replace(
        "shipping",
        fill(GERMAN_BODY, rng, {}),
        "web",
        "Bestellung nicht angekommen",
        names.index("Hannah"),
        "non_english:de",
    )
    cafe = replace(
        "technical",
        fill(CAFE_BODY, rng, {}),
        "email",
        "Card reader stops accepting contactless",
        names.index("Zoë"),
        "canonical:nfd",
    )
    html_canonical = replace(
        "shipping",
        fill(HTML_CANONICAL, rng, {}),
        "email",
        "Express shipping not express",
        names.index("Olivia"),
        "canonical:html",
    )
    del spanish, german

    free = [t for t in base if not t.note and len(normalize(t.body)) > 120]
    rng.shuffle(free)

    def take(predicate=lambda t: True) -> Ticket:
        chosen = next(t for t in free if predicate(t))
        free.remove(chosen)
        return chosen

    def copy(
        of: Ticket,
        kind: str,
        body: str,
        delay_minutes: int,
        channel: str | None = None,
        customer: int | None = None,
        note: str = "",
    ) -> Ticket:
        return Ticket(
            of.topic,
            of.customer if customer is None else customer,
            of.created_at + timedelta(minutes=delay_minutes),
            channel or of.channel,
            of.subject,
            body,
            kind=kind,
            of=of,
            note=note,
        )

    extra: list[Ticket] = []
    # Exact duplicates (byte-identical bodies). A: double submit through the web form.
    a = take(lambda t: t.channel == "web")
    a.note = "exact_original"
    extra.append(copy(a, "exact", a.body, 1))
    # B: the same e-mail resent twice, the last copy after the month boundary (crosses files).
    b = take(lambda t: t.channel == "email")
    b.note = "exact_original"
    b.created_at = datetime(2025, 1, 30, 16, 12, 5, tzinfo=UTC)
    extra.append(copy(b, "exact", b.body, 23 * 60 + 7))
    extra.append(copy(b, "exact", b.body, 2 * 24 * 60 + 31))
    # C: two different customers pasting the same text into the chat (a complaint copied from a forum).
    c = take(lambda t: t.channel == "chat")
    c.note = "exact_original"
    other = (c.customer + 7) % len(CUSTOMERS)
    extra.append(copy(c, "exact", c.body, 3 * 60 + 40, customer=other))

    # Duplicates equal only after normalization.
    ws = take(lambda t: t.channel == "email")
    ws.note = "canonical:whitespace"
    ws_body = ws.body.replace("\n\n", "\n\n\n", 1).replace(". ", ".  ", 2).replace("\n", " \n", 1)
    extra.append(copy(ws, "normalized", "  " + ws_body + "\t\n", 95, note="whitespace"))
    case = take(lambda t: t.channel in {"chat", "web"} and t.body.isascii())
    case.note = "canonical:case"
    extra.append(copy(case, "normalized", case.body.upper(), 18, channel="chat", note="case"))
    html_dup = "".join(
        f"<p>{p.replace(chr(10), '<br>' + chr(10))}</p>\n" for p in html_canonical.body.split("\n\n")
    ).replace("&", "&amp;")
    extra.append(copy(html_canonical, "normalized", html_dup.rstrip("\n"), 240, channel="web", note="html"))
    html2 = take(lambda t: t.channel == "web")
    html2.note = "canonical:html"
    html2_dup = "<div>" + html2.body.replace("\n", "<br />\n") + "</div>"
    extra.append(copy(html2, "normalized", html2_dup, 60 * 26, note="html"))
    cafe_dup = unicodedata.normalize("NFD", cafe.body)
    extra.append(copy(cafe, "normalized", cafe_dup, 7, note="unicode_nfd"))  # resent from a macOS client

    # Near-duplicates: the same message with a few words edited.
    for op in ("order_number", "greeting", "follow_up", "two_words"):
        # the longest e-mails, so that a few edited words leave most word 5-grams intact
        free.sort(key=lambda t: -len(t.body.split()))
        if op in {"order_number", "two_words"}:
            orig = take(lambda t: "ORD-" in t.body and t.channel == "email")
        else:
            orig = take(lambda t: t.channel == "email")
        orig.note = "near_original"
        body = orig.body
        if op == "order_number":
            number = re.search(r"ORD-\d{5}", body).group(0)
            body = body.replace(number, f"ORD-{int(number[4:]) + 3:05d}")
        elif op == "greeting":
            body = "Hello again,\n\n" + body.split("\n\n", 1)[1]
        elif op == "follow_up":
            body = body + "\n\nP.S. Still waiting for an answer."
        else:
            number = re.search(r"ORD-\d{5}", body).group(0)
            body = body.replace(number, f"{number} (placed online)", 1)
        extra.append(copy(orig, "near", body, rng.randint(60, 3 * 24 * 60), note=op))

    # Junk and an empty body.
    for text in [*JUNK_BODIES, ""]:
        extra.append(
            Ticket(
                None,
                rng.randrange(len(CUSTOMERS)),
                when(),
                rng.choice(("chat", "web")),
                rng.choice(["", "Help", "(no subject)", "Question"]),
                text,
                kind="empty" if not text else "short",
            )
        )

    malformed = take(lambda t: t.created_at.month == 2 and t.created_at.day in range(10, 20))
    malformed.kind = "malformed"
    # Every customer gets at least two valid tickets: customer_id is the split group key.
    valid = [t for t in base + extra if t.kind != "malformed"]
    while True:
        load = Counter(t.customer for t in valid)
        lonely = [c for c in range(len(CUSTOMERS)) if load[c] < 2]
        if not lonely:
            break
        busiest = max(range(len(CUSTOMERS)), key=lambda c: (load[c], -c))
        # a chat or phone ticket: its body carries no name that would contradict the new customer
        donor = next(t for t in free if t.customer == busiest and t.channel in {"chat", "phone"})
        donor.customer = lonely[0]
        free.remove(donor)
    tickets = sorted(base + extra, key=lambda t: (t.created_at, t.kind != "base"))
    for number, ticket in enumerate(tickets, start=1):
        ticket.id = f"T-{number:04d}"
    return tickets, malformed


def ticket_files(tickets: list[Ticket]) -> dict[str, bytes]:
    out: dict[str, list[str]] = {name: [] for name in TICKET_FILES}
    for ticket in tickets:
        line = json.dumps(ticket.record(), ensure_ascii=False)
        if ticket.kind == "malformed":
            line = line[: int(len(line) * 0.62)]  # truncated mid-body: the writer crashed here
        out[TICKET_FILES[ticket.created_at.month - 1]].append(line)
    return {name: ("\n".join(lines) + "\n").encode() for name, lines in out.items()}


# --------------------------------------------------------------------------------------
# Label Studio export
# --------------------------------------------------------------------------------------

ANNOTATORS = {  # id -> (first, last, e-mail); ordered from most to least reliable
    11: ("Aiko", "Tanaka", "aiko.tanaka@example.com"),
    12: ("Ben", "Okafor", "ben.okafor@example.com"),
    13: ("Carla", "Méndez", "carla.mendez@example.com"),
    14: ("Dev", "Patel", "dev.patel@example.com"),
}
CONFUSABLE = {
    "billing": ["account", "shipping"],
    "shipping": ["billing", "technical"],
    "technical": ["account", "shipping"],
    "account": ["billing", "technical"],
}
# Vote shapes: sizes of the label groups among submitted (non-skipped) annotations.
SHAPE_PLAN = (
    [(4,)] * 11
    + [(3,)] * 10
    + [(2,)] * 5
    + [(3, 1)] * 9
    + [(2, 1)] * 7
    + [(2, 1, 1)] * 1
    + [(2, 2)] * 3
    + [(1, 1)] * 3
    + [()] * 1
)
PROJECT = 4


def region_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "".join(rng.choice(alphabet) for _ in range(10))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def choice_result(rng: random.Random, label: str, origin: str | None) -> dict:
    item = {"id": region_id(rng), "from_name": "topic", "to_name": "text", "type": "choices"}
    if origin:
        item["origin"] = origin
    item["value"] = {"choices": [label]}
    return item


def build_export(tickets: list[Ticket], rng: random.Random) -> list[dict]:
    # Candidates: English tickets that belong to no planted group and whose body is unique.
    candidates = [t for t in tickets if t.kind == "base" and not t.note]
    per_topic = {topic: [t for t in candidates if t.topic == topic] for topic in TOPICS}
    chosen: list[tuple[str, str | None, str]] = []  # (true topic, ticket id or None, text)
    for topic in TOPICS:
        for ticket in rng.sample(per_topic[topic], 12):
            chosen.append((topic, ticket.id, ticket.body))
    for topic, text in ORPHAN_BODIES:
        chosen.append((topic, None, text))
    rng.shuffle(chosen)
    shapes = list(SHAPE_PLAN)
    rng.shuffle(shapes)
    assert len(shapes) == len(chosen) == 50
    # Two tasks whose majority is wrong (the annotators were misled), both of shape 3-1 or 2-1.
    wrong_majority = [i for i, s in enumerate(shapes) if s in {(3, 1), (2, 1)}][:2]
    skip_tasks = [i for i, s in enumerate(shapes) if sum(s) in {2, 3}][:6]
    gold_unanimous = [i for i, s in enumerate(shapes) if s in {(4,), (3,)}][:3]
    gold_tie = next(i for i, s in enumerate(shapes) if s == (2, 2))
    predicted = sorted(rng.sample(range(50), 20))
    wrong_predictions = set(predicted[3:12:3])  # 3 of the 20 predictions are wrong
    rules_predicted = set(predicted[1::4])  # 5 tasks also carry a keyword-rule prediction

    tasks = []
    annotation_id, prediction_id = 40001, 90001
    clock = datetime(2025, 3, 3, 8, 30, tzinfo=UTC)
    for index, ((topic, ticket_id, text), shape) in enumerate(zip(chosen, shapes, strict=True)):
        task_id = 1001 + index
        created = datetime(2025, 3, 3, 8, 0, tzinfo=UTC) + timedelta(seconds=index)
        data = {"text": text}
        if ticket_id:
            data["ticket_id"] = ticket_id
        elif index % 2:
            data["ticket_id"] = "T-9001"  # an id the ticket source does not have
        n_voters = sum(shape)
        order = list(ANNOTATORS)  # by reliability
        if n_voters < 4:
            start = index % 4
            order = [order[(start + k) % 4] for k in range(4)]
            voters = sorted(order[:n_voters])
            idle = sorted(order[n_voters:])
        else:
            voters, idle = list(ANNOTATORS), []
        voters = voters[:]
        for k in range(len(voters) - 1):  # occasional swap: the best annotator is not always right
            if rng.random() < 0.25:
                voters[k], voters[k + 1] = voters[k + 1], voters[k]
        wrong = CONFUSABLE[topic]
        labels_by_group = [topic, *wrong][: len(shape)]
        if index in wrong_majority:
            labels_by_group = [wrong[0], topic]
        votes: list[tuple[int, str]] = []
        position = 0
        for size, label in zip(shape, labels_by_group, strict=True):
            for _ in range(size):
                votes.append((voters[position], label))
                position += 1
        rotated = idle[index % len(idle) :] + idle[: index % len(idle)] if idle else []
        skippers = rotated[:2] if not shape else (rotated[:1] if index in skip_tasks else [])

        # Predictions.
        predictions = []
        pred_label = None
        if index in predicted:
            pred_label = wrong[1] if index in wrong_predictions else topic
            score = round(rng.uniform(0.41, 0.58) if index in wrong_predictions else rng.uniform(0.62, 0.97), 4)
            predictions.append(
                {
                    "id": prediction_id,
                    "model_version": "tfidf-logreg-v2",
                    "created_ago": "3 weeks, 2 days",
                    "score": score,
                    "result": [choice_result(rng, pred_label, None)],
                    "cluster": None,
                    "neighbors": None,
                    "mislabeling": 0.0,
                    "created_at": stamp(created + timedelta(minutes=5)),
                    "updated_at": stamp(created + timedelta(minutes=5)),
                    "task": task_id,
                    "project": PROJECT,
                }
            )
            prediction_id += 1
        if index in rules_predicted:
            rule_label = topic if index % 3 else wrong[0]
            predictions.append(
                {
                    "id": prediction_id,
                    "model_version": "keyword-rules-v1",
                    "created_ago": "3 weeks, 2 days",
                    "score": rng.choice([0.5, 0.75, 1.0]),
                    "result": [choice_result(rng, rule_label, None)],
                    "cluster": None,
                    "neighbors": None,
                    "mislabeling": 0.0,
                    "created_at": stamp(created + timedelta(minutes=6)),
                    "updated_at": stamp(created + timedelta(minutes=6)),
                    "task": task_id,
                    "project": PROJECT,
                }
            )
            prediction_id += 1
        parent_label = predictions[0]["result"][0]["value"]["choices"][0] if predictions else None

        entries = [(user, label, False) for user, label in votes] + [(user, None, True) for user in skippers]
        annotations = []
        for user, label, cancelled in sorted(entries, key=lambda e: e[0]):
            clock += timedelta(seconds=rng.randint(40, 900))
            lead = round(rng.uniform(1.0, 6.0) if cancelled else rng.uniform(3.5, 48.0), 3)
            edited = rng.random() < 0.15 and not cancelled
            updated = clock + timedelta(seconds=rng.randint(5, 300)) if edited else clock
            from_prediction = bool(predictions) and user == 12 and not cancelled
            origin = None
            if not cancelled:
                origin = (
                    ("prediction" if label == parent_label else "prediction-changed") if from_prediction else "manual"
                )
            if user == 13 or (user == 14 and index < 25):
                first, last, email = ANNOTATORS[user]
                completed_by: int | dict = {"id": user, "email": email, "first_name": first, "last_name": last}
            else:
                completed_by = user
            gold = (
                not cancelled
                and user == votes[0][0]
                and label == topic
                and (index in gold_unanimous or index == gold_tie)
            )
            annotations.append(
                {
                    "id": annotation_id,
                    "completed_by": completed_by,
                    "result": [] if cancelled else [choice_result(rng, label, origin)],
                    "was_cancelled": cancelled,
                    "ground_truth": gold,
                    "created_at": stamp(clock),
                    "updated_at": stamp(updated),
                    "draft_created_at": None,
                    "lead_time": lead,
                    "prediction": {},
                    "result_count": 0 if cancelled else 1,
                    "unique_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    "import_id": None,
                    "last_action": None,
                    "bulk_created": False,
                    "task": task_id,
                    "project": PROJECT,
                    "updated_by": user,
                    "parent_prediction": predictions[0]["id"] if from_prediction else None,
                    "parent_annotation": None,
                    "last_created_by": None,
                }
            )
            annotation_id += 1
        submitted = [a for a in annotations if not a["was_cancelled"]]
        tasks.append(
            {
                "id": task_id,
                "data": data,
                "annotations": annotations,
                "predictions": predictions,
                "meta": {},
                "created_at": stamp(created),
                "updated_at": annotations[-1]["updated_at"] if annotations else stamp(created),
                "inner_id": index + 1,
                "total_annotations": len(submitted),
                "cancelled_annotations": len(annotations) - len(submitted),
                "total_predictions": len(predictions),
                "comment_count": 0,
                "unresolved_comment_count": 0,
                "last_comment_updated_at": None,
                "project": PROJECT,
                "updated_by": annotations[-1]["updated_by"] if annotations else None,
                "file_upload": "8f3c2a1e-support_tickets_batch_2025-03.json",
                "comment_authors": [],
            }
        )
    return tasks


# --------------------------------------------------------------------------------------
# Documents: the planted duplicate and the too-short note
# --------------------------------------------------------------------------------------


def document_files() -> dict[str, bytes]:
    source = (SAMPLE_DIR / "documents/cargo/README.md").read_text(encoding="utf-8")
    lines = source.split("\n")
    out = []
    for number, line in enumerate(lines):
        if line and number % 7 == 3:
            line += "  "  # trailing blanks, as an editor that does not trim them leaves
        out.append(line)
        if line.startswith("## "):
            out.append("")  # an extra blank line after each section heading
    copy = "\ufeff" + "\r\n".join(out)  # saved by a Windows editor: BOM and CRLF
    return {
        "documents/cargo/README.txt": copy.encode(),
        "documents/notes/refund-policy-todo.txt": b"TODO: ask finance about the refund policy.\n",
    }


def read_document(path: Path) -> str:
    """The text a documents source lands for .md/.txt (BOM removed), for the checks below."""
    return path.read_bytes().decode("utf-8-sig")


# --------------------------------------------------------------------------------------
# Expected counts, computed from the bytes that are written
# --------------------------------------------------------------------------------------


def expected(files: dict[str, bytes], tickets: list[Ticket], malformed: Ticket) -> dict:
    by_id = {t.id: t for t in tickets}
    records, malformed_lines, per_file = [], [], {}
    for name in TICKET_FILES:
        lines = files[name].decode().split("\n")[:-1]
        valid = 0
        for number, line in enumerate(lines, start=1):
            try:
                records.append((name, json.loads(line)))
                valid += 1
            except json.JSONDecodeError:
                malformed_lines.append({"file": name, "line": number, "ticket_id": malformed.id})
        per_file[name] = {"lines": len(lines), "valid": valid, "malformed": len(lines) - valid}
    bodies = [(r["ticket_id"], r["body"], name) for name, r in records]

    # Exact duplicates: byte-identical body to an earlier ticket (in file and line order).
    first_by_body: dict[str, str] = {}
    exact_groups: dict[str, list[str]] = {}
    for ticket_id, body, _ in bodies:
        if body in first_by_body:
            exact_groups.setdefault(first_by_body[body], [first_by_body[body]]).append(ticket_id)
        else:
            first_by_body[body] = ticket_id
    exact_groups = {k: v for k, v in exact_groups.items() if normalize(by_id[k].body)}
    file_of = {ticket_id: name for ticket_id, _, name in bodies}
    # Normalization-only duplicates: not byte-equal to any earlier body, but equal once normalized.
    first_by_norm: dict[str, str] = {}
    norm_pairs = []
    seen_bodies: set[str] = set()
    for ticket_id, body, _ in bodies:
        norm = normalize(body)
        if norm and norm in first_by_norm and body not in seen_bodies:
            canonical = first_by_norm[norm]
            norm_pairs.append({"ticket_id": ticket_id, "duplicate_of": canonical, "kind": by_id[ticket_id].note})
        first_by_norm.setdefault(norm, ticket_id)
        seen_bodies.add(body)
    # Near-duplicates: pairs of distinct normalized texts with a high shingle overlap.
    distinct = [(tid, body) for tid, body, _ in bodies if normalize(body) and first_by_norm[normalize(body)] == tid]
    word_sets = {tid: shingles(body) for tid, body in distinct}
    char_sets = {tid: char_shingles(body) for tid, body in distinct}
    near_pairs, unrelated_max = [], (0.0, "", "")
    for (id_a, _), (id_b, _) in combinations(distinct, 2):
        score = jaccard(word_sets[id_a], word_sets[id_b])
        planted = by_id[id_b].kind == "near" and by_id[id_b].of is by_id[id_a]
        if planted:
            near_pairs.append(
                {
                    "ticket_id": id_b,
                    "near_duplicate_of": id_a,
                    "edit": by_id[id_b].note,
                    "jaccard_word_5gram": round(score, 4),
                    "jaccard_char_5gram": round(jaccard(char_sets[id_a], char_sets[id_b]), 4),
                }
            )
            assert score >= NEAR_DUP_MIN_JACCARD, (id_a, id_b, score)
        elif score > unrelated_max[0]:
            unrelated_max = (score, id_a, id_b)
    assert unrelated_max[0] < UNRELATED_MAX_JACCARD, unrelated_max
    char_max = max(
        jaccard(char_sets[a], char_sets[b])
        for (a, _), (b, _) in combinations(distinct, 2)
        if not (by_id[b].kind == "near" and by_id[b].of is by_id[a])
    )

    too_short = [tid for tid, body, _ in bodies if 0 < len(normalize(body)) < SHORT_CHARS]
    empty = [tid for tid, body, _ in bodies if not normalize(body)]
    with_email = [tid for tid, body, _ in bodies if EMAIL.search(body)]
    with_phone = [tid for tid, body, _ in bodies if PHONE.search(body)]
    for tid, body, _ in bodies:  # no accidental PII: everything phone-like is a planted phone number
        assert bool(DIGIT_RUN.search(body)) == bool(PHONE.search(body)), (tid, body)
        planted_pii = by_id[tid].note.startswith("pii:") or (by_id[tid].of and by_id[tid].of.note.startswith("pii:"))
        assert bool(EMAIL.search(body) or PHONE.search(body)) == bool(planted_pii), tid
    non_ascii = [tid for tid, body, _ in bodies if not body.isascii()]
    non_english = [tid for tid, _, _ in bodies if by_id[tid].note.startswith("non_english")]
    customers = Counter(r["customer_id"] for _, r in records)
    topics = Counter(by_id[tid].topic or "none" for tid, _, _ in bodies)
    exact_redundant = sum(len(v) - 1 for v in exact_groups.values())
    after_exact = len(first_by_body)
    after_norm = len(first_by_norm)

    return {
        "normalization": NORMALIZATION,
        "tickets": {
            "files": per_file,
            "lines_total": sum(f["lines"] for f in per_file.values()),
            "tickets_total": len(records),
            "valid_lines": len(records),
            "malformed_lines": len(malformed_lines),
            "malformed": malformed_lines,
            "customers": len(customers),
            "tickets_per_customer": {"min": min(customers.values()), "max": max(customers.values())},
            "channels": dict(sorted(Counter(r["channel"] for _, r in records).items())),
            "true_topic": {k: topics[k] for k in (*TOPICS, "none")},
            "exact_duplicates": {
                "redundant_tickets": exact_redundant,
                "groups": len(exact_groups),
                "group_ticket_ids": list(exact_groups.values()),
                "groups_across_files": sum(len({file_of[t] for t in g}) > 1 for g in exact_groups.values()),
                "groups_across_customers": sum(len({by_id[t].customer for t in g}) > 1 for g in exact_groups.values()),
            },
            "normalization_duplicates": {
                "count": len(norm_pairs),
                "by_kind": dict(sorted(Counter(p["kind"] for p in norm_pairs).items())),
                "pairs": norm_pairs,
            },
            "near_duplicates": {
                "count": len(near_pairs),
                "pairs": near_pairs,
                "max_unrelated_jaccard_word_5gram": round(unrelated_max[0], 4),
                "max_unrelated_jaccard_char_5gram": round(char_max, 4),
            },
            "too_short": {"count": len(too_short), "threshold_chars": SHORT_CHARS, "ticket_ids": too_short},
            "empty": {"count": len(empty), "ticket_ids": empty},
            "with_email": len(with_email),
            "with_phone": len(with_phone),
            "with_email_or_phone": len(set(with_email) | set(with_phone)),
            "pii_ticket_ids": sorted(set(with_email) | set(with_phone)),
            "non_ascii": len(non_ascii),
            "non_english": {"count": len(non_english), "ticket_ids": non_english},
            "distinct_bodies": after_exact,
            "distinct_normalized_bodies": after_norm,
            "kept_after_exact_normalized_short_and_near_dedup": after_norm
            - len(too_short)
            - len(empty)
            - len(near_pairs),
        },
    }


def annotation_counts(tasks: list[dict], tickets: list[Ticket]) -> dict:
    body_to_ticket = {t.body: t for t in tickets if t.kind != "malformed"}
    votes_per_task, shapes = [], Counter()
    annotators: dict[int, Counter] = {user: Counter() for user in ANNOTATORS}
    completed_by_types = Counter()
    labels, true_topics = Counter(), Counter()
    unanimous = majority = ties = tie_2_2 = tie_1_1 = no_votes = majority_right = majority_wrong = 0
    annotations = skipped = gold = predictions = 0
    for task in tasks:
        ticket = body_to_ticket.get(task["data"]["text"])
        truth = ticket.topic if ticket else next(t for t, text in ORPHAN_BODIES if text == task["data"]["text"])
        true_topics[truth] += 1
        task_votes = Counter()
        for ann in task["annotations"]:
            annotations += 1
            user = ann["completed_by"]["id"] if isinstance(ann["completed_by"], dict) else ann["completed_by"]
            completed_by_types["object" if isinstance(ann["completed_by"], dict) else "int"] += 1
            if ann["was_cancelled"]:
                skipped += 1
                annotators[user]["skipped"] += 1
                continue
            label = ann["result"][0]["value"]["choices"][0]
            task_votes[label] += 1
            labels[label] += 1
            gold += ann["ground_truth"]
            annotators[user]["submitted"] += 1
            annotators[user]["matches_true_topic"] += label == truth
        predictions += len(task["predictions"])
        shape = "-".join(str(n) for n in sorted(task_votes.values(), reverse=True)) or "0"
        shapes[shape] += 1
        votes_per_task.append(sum(task_votes.values()))
        counts = sorted(task_votes.values(), reverse=True)
        if not counts:
            no_votes += 1
        elif len(counts) == 1:
            unanimous += 1
        elif counts[0] > counts[1]:
            majority += 1
        else:
            ties += 1
            tie_2_2 += counts[:2] == [2, 2]
            tie_1_1 += counts == [1, 1]
        if counts and (len(counts) == 1 or counts[0] > counts[1]):
            winner = task_votes.most_common(1)[0][0]
            majority_right += winner == truth
            majority_wrong += winner != truth
    return {
        "tasks": len(tasks),
        "tasks_with_ticket": sum(t["data"]["text"] in body_to_ticket for t in tasks),
        "tasks_without_ticket": sum(t["data"]["text"] not in body_to_ticket for t in tasks),
        "annotations": annotations,
        "submitted": annotations - skipped,
        "skipped": skipped,
        "ground_truth": gold,
        "predictions": predictions,
        "tasks_with_predictions": sum(bool(t["predictions"]) for t in tasks),
        "completed_by": dict(sorted(completed_by_types.items())),
        "vote_shapes": dict(sorted(shapes.items())),
        "unanimous": unanimous,
        "clear_majority": majority,
        "ties": {"total": ties, "2-2": tie_2_2, "1-1": tie_1_1},
        "tasks_without_votes": no_votes,
        "majority_matches_true_topic": majority_right,
        "majority_differs_from_true_topic": majority_wrong,
        "votes_by_label": {k: labels[k] for k in TOPICS},
        "true_topic_of_tasks": {k: true_topics[k] for k in TOPICS},
        "annotators": {
            str(user): {
                "submitted": c["submitted"],
                "skipped": c["skipped"],
                "matches_true_topic": c["matches_true_topic"],
            }
            for user, c in annotators.items()
        },
    }


DOCUMENT_EXTENSIONS = (".html", ".md", ".txt", ".pdf", ".docx")


def document_counts(files: dict[str, bytes]) -> dict:
    root = SAMPLE_DIR / "documents"
    contents: dict[str, bytes] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        contents[path.relative_to(root).as_posix()] = path.read_bytes()
    for name, data in files.items():
        if name.startswith("documents/"):
            contents[name.removeprefix("documents/")] = data
    contents = dict(sorted(contents.items()))
    listing = []
    norm_first: dict[str, str] = {}
    dupes, short = [], []
    for name, data in contents.items():
        suffix = Path(name).suffix
        entry = {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        listing.append(entry)
        if suffix in {".html", ".pdf", ".docx"}:  # their text is what an extractor makes of them
            continue
        norm = normalize(data.decode("utf-8-sig"))
        if len(norm) < SHORT_CHARS:
            short.append(name)
        if norm in norm_first:
            dupes.append({"path": name, "duplicate_of": norm_first[norm]})
        norm_first.setdefault(norm, name)
    kinds = Counter(Path(e["path"]).suffix for e in listing)
    return {
        "files": len(listing),
        "by_extension": dict(sorted(kinds.items())),
        "too_short": short,
        "normalized_duplicates": dupes,
        "listing": listing,
    }


def counts_table(exp: dict) -> str:
    t, a, d, li = exp["tickets"], exp["annotations"], exp["documents"], exp["label_imports"]
    rows = [
        ("tickets: lines in both files", t["lines_total"]),
        ("tickets: valid lines (= tickets total)", t["valid_lines"]),
        ("tickets: malformed lines (truncated JSON)", t["malformed_lines"]),
        ("tickets: customers", t["customers"]),
        (
            "tickets: exact duplicates (redundant copies / groups)",
            f"{t['exact_duplicates']['redundant_tickets']} / {t['exact_duplicates']['groups']}",
        ),
        ("tickets: exact-duplicate groups spanning both files", t["exact_duplicates"]["groups_across_files"]),
        ("tickets: normalization-only duplicates", t["normalization_duplicates"]["count"]),
        ("  by kind", ", ".join(f"{k} {v}" for k, v in t["normalization_duplicates"]["by_kind"].items())),
        ("tickets: near-duplicates (planted pairs)", t["near_duplicates"]["count"]),
        ("tickets: too short (normalized, 1-49 chars)", t["too_short"]["count"]),
        ("tickets: empty body", t["empty"]["count"]),
        ("tickets: with an e-mail address", t["with_email"]),
        ("tickets: with a phone number", t["with_phone"]),
        ("tickets: with an e-mail or a phone number", t["with_email_or_phone"]),
        ("tickets: with non-ASCII text", t["non_ascii"]),
        ("tickets: not in English", t["non_english"]["count"]),
        ("tickets: true topic", ", ".join(f"{k} {v}" for k, v in t["true_topic"].items())),
        (
            "tickets: distinct bodies / distinct normalized bodies",
            f"{t['distinct_bodies']} / {t['distinct_normalized_bodies']}",
        ),
        (
            "tickets: left after exact + normalized + short/empty + near dedup",
            t["kept_after_exact_normalized_short_and_near_dedup"],
        ),
        ("annotations: tasks", a["tasks"]),
        ("annotations: tasks without a ticket", a["tasks_without_ticket"]),
        ("annotations: annotations (submitted + skipped)", f"{a['annotations']} ({a['submitted']} + {a['skipped']})"),
        (
            "annotations: completed_by as int / as object",
            f"{a['completed_by'].get('int', 0)} / {a['completed_by'].get('object', 0)}",
        ),
        ("annotations: ground_truth annotations", a["ground_truth"]),
        ("annotations: predictions (tasks with predictions)", f"{a['predictions']} ({a['tasks_with_predictions']})"),
        ("annotations: unanimous / clear majority", f"{a['unanimous']} / {a['clear_majority']}"),
        ("annotations: ties (2-2 / 1-1)", f"{a['ties']['total']} ({a['ties']['2-2']} / {a['ties']['1-1']})"),
        ("annotations: tasks with only skipped annotations", a["tasks_without_votes"]),
        (
            "annotations: majority matches true topic / differs",
            f"{a['majority_matches_true_topic']} / {a['majority_differs_from_true_topic']}",
        ),
        ("annotations: true topic of tasks", ", ".join(f"{k} {v}" for k, v in a["true_topic_of_tasks"].items())),
        (
            "urgency (Argilla): records (nested / flattened), users",
            f"{li['argilla_records']} ({li['argilla_records_nested']} / {li['argilla_records_flattened']}), "
            f"{li['argilla_users']}",
        ),
        ("urgency (Argilla): responses by status", ", ".join(f"{k} {v}" for k, v in li["argilla_responses"].items())),
        (
            "urgency (CSV): rows (submitted + skipped), gold rows, tickets",
            f"{li['sheet_rows']} ({li['sheet_votes']['submitted']} + {li['sheet_votes']['skipped']}), "
            f"{li['sheet_gold_rows']}, {li['sheet_items']}",
        ),
        (
            "urgency: items (in both tools); unanimous / majority / tie",
            f"{li['urgency_items']} ({li['urgency_items_in_both_tools']}); "
            + " / ".join(str(n) for n in li["urgency_unanimous_majority_tie"]),
        ),
        (
            "topic predictions: rows, tasks; confident (>= 0.9) against the majority",
            f"{li['topic_prediction_rows']}, {li['topic_prediction_items']}; "
            f"{len(li['topic_predictions_confidently_disagreeing_with_majority'])}",
        ),
        (
            "documents: files (.html / .md / .txt / .pdf / .docx)",
            f"{d['files']} ({' / '.join(str(d['by_extension'].get(e, 0)) for e in DOCUMENT_EXTENSIONS)})",
        ),
        ("documents: too short", len(d["too_short"])),
        ("documents: duplicates after normalization", len(d["normalized_duplicates"])),
    ]
    lines = ["| planted case | count |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def readme_with_table(table: str) -> bytes | None:
    if not README.exists():
        return None
    text = README.read_text(encoding="utf-8")
    start, end = "<!-- counts:start -->", "<!-- counts:end -->"
    if start not in text or end not in text:
        return None
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{table}\n{end}{tail}".encode()


# --------------------------------------------------------------------------------------


def generate() -> tuple[dict[str, bytes], str]:
    rng = random.Random(SEED)
    tickets, malformed = build_tickets(rng)
    files = ticket_files(tickets)
    tasks = build_export(tickets, random.Random(SEED + 1))
    # A JSON array with one task per line: valid JSON, small, and diffs line by line.
    lines = ",\n".join(json.dumps(task, ensure_ascii=False) for task in tasks)
    files["annotations/topics.json"] = f"[\n{lines}\n]\n".encode()
    orphan_topics = {text: topic for topic, text in ORPHAN_BODIES}
    files.update(build_label_samples(tickets, tasks, orphan_topics))
    files.update(document_files())
    exp = expected(files, tickets, malformed)
    exp["annotations"] = annotation_counts(tasks, tickets)
    exp["label_imports"] = label_sample_counts(files, tasks, tickets)
    exp["documents"] = document_counts(files)
    files["EXPECTED.json"] = (json.dumps(exp, ensure_ascii=False, indent=2) + "\n").encode()
    table = counts_table(exp)
    return files, table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files on disk, write nothing")
    args = parser.parse_args()
    files, table = generate()
    targets = {SAMPLE_DIR / name: data for name, data in files.items()}
    readme = readme_with_table(table)
    if readme is not None:
        targets[README] = readme
    if args.check:
        stale = [
            str(p.relative_to(SEEDS_DIR)) for p, data in targets.items() if not p.exists() or p.read_bytes() != data
        ]
        for name in stale:
            print(f"differs: {name}", file=sys.stderr)
        return 1 if stale else 0
    for path, data in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
