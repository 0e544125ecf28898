# Die Texte des Shops und des Kundenkontos, Deutsch. Jede Nachricht aus en.ftl steht auch
# hier (ein Test prüft das); Variablen werden { $name } geschrieben.

## Der Rahmen jeder Seite
skip-to-content = Zum Inhalt springen
test-mode = Testmodus
test-mode-title = In diesem Shop fließt kein echtes Geld
nav-shop = Shop
nav-account = Konto
nav-cart = Warenkorb
nav-pages = Seiten des Shops
nav-language = Sprache
footer-support = Fragen? Schreiben Sie an
page-terms = Verkaufsbedingungen
page-privacy = Datenschutz
page-refunds = Rückerstattung
page-license = Lizenzvertrag
page-faq = Häufige Fragen

## Antworten außerhalb der Seiten eines Shops
page-not-found = Seite nicht gefunden
something-went-wrong = Etwas ist schiefgelaufen. Bitte versuchen Sie es gleich noch einmal.
form-expired = Dieses Formular ist abgelaufen
form-expired-detail = Es wurde nicht von seiner eigenen Seite gesendet. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es noch einmal.

## Katalog und Produktseiten
catalog-empty = Hier gibt es noch nichts zu kaufen.
all-products = Alle Produkte
tax-included = inkl. Steuer
tax-excluded = zzgl. Steuer, wo sie anfällt
kind-digital = Digital: sofort geliefert
kind-physical = Wird Ihnen zugeschickt
kind-service = Wird für Sie erbracht
license-one = Mit einem Lizenzschlüssel für einen Rechner
license-many = Mit einem Lizenzschlüssel für bis zu { $count } Rechner
license-any = Mit einem Lizenzschlüssel
quantity = Menge
add-to-cart = In den Warenkorb
product-in-cart = Sie haben { $count } davon im Warenkorb.
view-cart = Zum Warenkorb

## Warenkorb
cart-title = Ihr Warenkorb
cart-canceled = Sie haben die Zahlungsseite verlassen: Es wurde nichts abgebucht. Ihr Warenkorb ist unverändert.
cart-empty = Ihr Warenkorb ist leer.
see-for-sale = Zum Angebot
cart-caption = Produkte in Ihrem Warenkorb
col-product = Produkt
col-quantity = Menge
col-price = Preis
col-amount = Betrag
quantity-of = Menge von { $name }
update = Ändern
remove = Entfernen
remove-product = { $name } entfernen
subtotal = Zwischensumme
discount = Rabatt
total = Summe
promotion-code = Gutscheincode
apply = Einlösen
check-out = Zur Kasse
form-incomplete = Das Formular war unvollständig.
quantity-not-number = Die Menge muss eine ganze Zahl sein.
product-gone = Dieses Produkt wird hier nicht mehr verkauft.

## Kasse
checkout-title = Kasse
your-order = Ihre Bestellung
change-cart = Warenkorb ändern
email = E-Mail
for-receipt = (für die Quittung)
optional = (freiwillig)
name = Name
company = Firma
vat-id = USt-IdNr.
billing-country = Rechnungsland
choose-country = Wählen Sie das Land, in dem Ihnen Rechnungen gestellt werden.
continue-to-payment = Weiter zur Zahlung

## Die Bestätigungsseite
order-title = Bestellung { $order }
confirming = Ihre Zahlung wird bestätigt…
confirming-detail = Wir warten auf die Bestätigung des Zahlungsanbieters für die Bestellung { $order }. Diese Seite aktualisiert sich selbst; das dauert ein paar Sekunden.
check-again = Erneut prüfen
payment-failed = Die Zahlung ist nicht durchgegangen
payment-failed-detail = Für die Bestellung { $order } wurde nichts abgebucht.
back-to-cart = Zurück zum Warenkorb
thank-you = Vielen Dank für Ihre Bestellung
order-paid = Die Bestellung { $order } ist bezahlt.
receipt-emailed = Eine Quittung geht auch per E-Mail an { $email }.
receipt = Quittung
total-paid = Bezahlt
keys-coming = Ihre Lizenzschlüssel werden ausgestellt: Sie erscheinen hier in einem Moment.
your-keys = Ihre Lizenzschlüssel
key-once = Bewahren Sie ihn gut auf: Diese Seite zeigt ihn nur einmal.
key-shown = (bereits einmal gezeigt, und in Ihrer E-Mail)
see-in-account = Im Kundenkonto ansehen (Downloads, Lizenzen)

## Das Kundenkonto
account-title = Ihr Konto
sign-in-intro = Sehen Sie Ihre Bestellungen, Lizenzschlüssel und Downloads. Geben Sie die E-Mail-Adresse an, mit der Sie gekauft haben: Wir schicken Ihnen einen Anmeldelink. Kein Passwort nötig.
email-me-link = Anmeldelink schicken
link-sent = Wenn { $email } die Adresse eines Kontos hier ist, ist ein Anmeldelink an sie unterwegs. Er funktioniert einmal, 15 Minuten lang.
sign-in = Anmelden
sign-in-as = Melden Sie sich bei Ihrem Konto als { $email } an.
link-dead = Dieser Link funktioniert nicht mehr
link-dead-detail = Anmeldelinks funktionieren einmal, 15 Minuten lang.
ask-new-link = Einen neuen anfordern
signed-in-as = Angemeldet als { $email }.
company-documents = Sie sehen auch die Bestellungen und Rechnungen von { $companies }.
colleague-order = Ein anderer Kontakt Ihres Unternehmens hat diese Bestellung aufgegeben: Lizenzen und Downloads gehören ihm.
invoice-payment-confirming = Danke: Ihre Zahlung wird bestätigt. Die Rechnung erscheint als bezahlt, sobald der Anbieter sie bestätigt.
orders = Bestellungen
no-orders = Noch keine Bestellungen.
your-orders = Ihre Bestellungen
col-order = Bestellung
col-date = Datum
col-status = Status
col-total = Summe
invoices = Rechnungen
no-invoices = Keine Rechnungen.
your-invoices = Ihre Rechnungen
col-invoice = Rechnung
col-issued = Ausgestellt
col-actions = Aktionen
pay-amount = { $amount } bezahlen
pay-invoice = { $amount } der Rechnung { $number } bezahlen
sign-out = Abmelden
order-status = Status: { $status }
order-lines = Positionen
licenses = Lizenzen
revoked = (widerrufen)
activations = { $count ->
    [one] 1 Rechner aktiviert
   *[other] { $count } Rechner aktiviert
}
activations-of = von { $max }
downloads = Downloads
no-files = Zu dieser Bestellung gibt es keine Dateien.
download-terms = ({ $platform }, Version { $version }): gültig bis { $expires } UTC, für { $count } Downloads
links-shown-once = Diese Links werden nur jetzt gezeigt: Holen Sie sich hier jederzeit neue.
get-download-links = Download-Links holen

## Zahlen mit zwei Klicks und gespeicherte Karten
saved-card-title = Mit Ihrer gespeicherten Karte zahlen
saved-card = Karte, gespeichert am { $date }
pay-saved-card = Jetzt { $amount } bezahlen
or-pay-another-way = Oder anders bezahlen:
card-declined = Ihre gespeicherte Karte wurde abgelehnt ({ $reason }). Es wurde nichts abgebucht: Zahlen Sie unten anders.
payment-methods = Zahlungsmittel
no-payment-methods = Keine gespeicherten Karten.
add-card = Karte für schnelleres Bezahlen speichern
card-saved-on = Karte, gespeichert am { $date } ({ $provider })
paypal-saved-on = PayPal-Konto, gespeichert am { $date }
default-card = (Standard)
make-default = Als Standard festlegen
make-default-card = { $card } als Standard festlegen
remove = Entfernen
remove-card = { $card } entfernen

older-orders = Ältere Bestellungen
older-invoices = Ältere Rechnungen

## Abonnements (Verträge)
plans = Abonnements
no-plans = Keine Abonnements.
your-plans = Ihre Abonnements
col-plan = Tarif
col-renewal = Verlängerung
col-per-period = Pro Zeitraum
col-seats = Plätze ändern
plan-title = Abonnement: { $plan }
plan-status = Status: { $status }
plan-lines = Was das Abonnement berechnet
plan-by-usage = nach Nutzung
seats-for = Plätze für { $product }
preview-change = Änderung ansehen
next-invoice = Nächste Rechnung
plan-next-invoice = Am { $date }: { $amount }, zuzüglich der Nutzung des Zeitraums.
plan-no-next-invoice = Keine weitere Rechnung geplant.
usage = Nutzung
usage-summary = { $meter }: { $this } bisher in diesem Zeitraum (durchgezogene Linie), { $last } im letzten Zeitraum (gestrichelte Linie).
renewal = Verlängerung
plan-open-ended = Das Abonnement läuft, bis es beendet wird; es hat kein Verlängerungsdatum.
plan-ends = Das Abonnement endet am { $date } und verlängert sich nicht.
plan-renews-cancel-until = Das Abonnement verlängert sich am { $date }. Sie können die Verlängerung bis { $deadline } kündigen.
plan-renews-notice-passed = Das Abonnement verlängert sich am { $date }: Die Kündigungsfrist ist abgelaufen.
cancel-renewal = Verlängerung kündigen
resume-renewal = Verlängerung fortsetzen
plan-renewal-canceled = Die Verlängerung ist gekündigt.
plan-renewal-resumed = Das Abonnement verlängert sich wieder.
plan-seats-changed = Die Plätze sind geändert.
seats-title = Plätze ändern
back-to-plan = Zurück zum Abonnement
seats-change = { $product }: von { $from } auf { $to } Plätze.
seats-per-period = Jede Rechnung ab dem nächsten Zeitraum ändert sich um { $amount }.
seats-charged-now = Für den Rest des Zeitraums bis { $date } werden { $amount } mit der nächsten Rechnung berechnet.
seats-credited-now = Für den Rest des Zeitraums bis { $date } werden { $amount } mit der nächsten Rechnung gutgeschrieben.
seats-nothing-now = Für den laufenden Zeitraum wird nichts berechnet oder gutgeschrieben.
confirm-change = Änderung bestätigen
switch-plan = Tarif wechseln
deactivate-machine = { $machine } deaktivieren
replace-key = Neuen Schlüssel per E-Mail senden
replace-key-of = Neuen Schlüssel für { $hint } per E-Mail senden (der alte Schlüssel gilt nicht mehr; Rechner aktivieren sich neu)
license-deactivated = Der Rechner ist deaktiviert: Ein anderer Rechner kann seinen Platz nutzen.
license-replaced = Ein neuer Schlüssel ist per E-Mail unterwegs. Der alte Schlüssel gilt nicht mehr.
challenge-needs-script = Dieser Shop prüft, dass Sie kein Roboter sind, und braucht dafür JavaScript: Bitte schalten Sie es für diese Seite ein.
switch-from = { $product } wechseln zu
plan-option = { $plan }: { $amount } im Monat pro Platz
switch-title = Tarif wechseln
switch-change = Von { $from } zu { $to } ({ $quantity } Plätze).
plan-switched = Der Tarif ist gewechselt.
field-invalid = Das Feld „{ $field }“ fehlt oder ist ungültig.

## Zahlungsverlauf
payment-history = Zahlungsverlauf
no-payments = Noch keine Zahlungen.
your-payments = Ihre Zahlungen
col-paid-for = Bezahlt für
col-method = Zahlungsart
paid-for-order = Bestellung { $order }
paid-for-invoices = Rechnung { $numbers }
paid-for-credit = Guthaben
amount-returned = { $amount } erstattet
older-payments = Ältere Zahlungen

## Kontostand
notice-card-declined = Ihre Karte wurde abgelehnt ({ $code }), und { $overdue } sind überfällig. Speichern Sie unten eine neue Karte und legen Sie sie als Standard fest, oder bezahlen Sie die offenen Rechnungen.
notice-past-due = Ihr Konto ist im Verzug: { $overdue } sind überfällig. Bitte bezahlen Sie die offenen Rechnungen unten.
notice-collections = Ihr Konto ist im Inkasso: { $overdue } sind überfällig, und der Zugang ist eingeschränkt, bis sie bezahlt sind.
notice-closed = Ihr Konto ist geschlossen. Bitte wenden Sie sich an den Support.

## Länder
country-at = Österreich
country-au = Australien
country-be = Belgien
country-br = Brasilien
country-ca = Kanada
country-ch = Schweiz
country-cz = Tschechien
country-de = Deutschland
country-dk = Dänemark
country-es = Spanien
country-fi = Finnland
country-fr = Frankreich
country-gb = Vereinigtes Königreich
country-ie = Irland
country-in = Indien
country-it = Italien
country-jp = Japan
country-mx = Mexiko
country-nl = Niederlande
country-no = Norwegen
country-nz = Neuseeland
country-pl = Polen
country-pt = Portugal
country-se = Schweden
country-sg = Singapur
country-us = Vereinigte Staaten

## Refusals of the application core, by their code (pages in English show the core's own message).
refusal-parameter-invalid = { $param } ist ungültig. Bitte prüfen Sie die Eingabe.
refusal-parameter-missing = { $param } fehlt.
refusal-cart-empty = Der Warenkorb ist leer: Legen Sie zuerst ein Produkt hinein.
refusal-checkout-rate-limited = Von hier wurden in kurzer Zeit zu viele Versuche gestartet. Bitte warten Sie 10 Minuten und versuchen Sie es erneut, oder wenden Sie sich an den Shop.
refusal-sign-in-rate-limited = Es wurden zu viele Anmeldelinks angefordert. Bitte warten Sie einige Minuten und versuchen Sie es erneut.
refusal-challenge-failed = Die Prüfung, dass Sie kein Roboter sind, war nicht erfolgreich. Bitte versuchen Sie es erneut.
refusal-challenge-unavailable = Die Prüfung, dass Sie kein Roboter sind, konnte nicht abgeschlossen werden. Bitte versuchen Sie es gleich noch einmal.
refusal-notice-period-passed = Die Kündigungsfrist ist abgelaufen: Die Verlängerung kann nicht mehr gekündigt werden.
refusal-invoice-not-payable = Diese Rechnung kann nicht online bezahlt werden (Status: { $state }).
refusal-promotion-code-invalid = Diesen Aktionscode gibt es nicht.
refusal-promotion-code-expired = Dieser Aktionscode ist abgelaufen.
refusal-promotion-code-inactive = Dieser Aktionscode ist nicht mehr gültig.
refusal-promotion-code-exhausted = Dieser Aktionscode wurde bereits so oft eingelöst wie erlaubt.
refusal-coupon-expired = Dieser Rabatt ist abgelaufen.
refusal-coupon-exhausted = Dieser Rabatt wurde bereits so oft eingelöst wie erlaubt.
refusal-contract-ended = Dieses Abonnement ist beendet und kann nicht mehr geändert werden.
refusal-quantity-invalid = Die Anzahl muss mindestens 1 sein.
refusal-period-invoiced = Dieser Zeitraum ist bereits abgerechnet und kann nicht mehr geändert werden.
refusal-renewal-not-canceled = Die Verlängerung ist nicht gekündigt.
refusal-resource-missing = Das gibt es hier nicht (mehr).
