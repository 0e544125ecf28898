# The storefront's and the portal's messages, English. Every message here must also be in
# de.ftl (a test checks); variables are written { $name }.

## The frame of every page
skip-to-content = Skip to content
test-mode = Test mode
test-mode-title = No real money moves in this shop
nav-shop = Shop
nav-account = Account
nav-cart = Cart
nav-pages = Shop pages
nav-language = Language
footer-support = Questions? Write to
page-terms = Terms of sale
page-privacy = Privacy policy
page-refunds = Refund policy
page-license = License agreement
page-faq = Questions and answers

## Answers outside a shop's pages
page-not-found = Page not found
something-went-wrong = Something went wrong. Please try again in a moment.
form-expired = This form has expired
form-expired-detail = It was not sent from its own page. Go back, reload the page and try again.

## Catalog and product pages
catalog-empty = Nothing is for sale here yet.
all-products = All products
tax-included = tax included
tax-excluded = plus tax where it applies
kind-digital = Digital: delivered at once
kind-physical = Shipped to you
kind-service = Performed for you
license-one = Comes with a license key for one machine
license-many = Comes with a license key for up to { $count } machines
license-any = Comes with a license key
quantity = Quantity
add-to-cart = Add to cart
product-in-cart = You have { $count } in your cart.
view-cart = View the cart

## Cart
cart-title = Your cart
cart-canceled = You left the payment page: nothing was charged. Your cart is as you left it.
cart-empty = Your cart is empty.
see-for-sale = See what is for sale
cart-caption = Products in your cart
col-product = Product
col-quantity = Quantity
col-price = Price
col-amount = Amount
quantity-of = Quantity of { $name }
update = Update
remove = Remove
remove-product = Remove { $name }
subtotal = Subtotal
discount = Discount
total = Total
promotion-code = Promotion code
apply = Apply
check-out = Check out
form-incomplete = The form was incomplete.
quantity-not-number = The quantity must be a whole number.
product-gone = This product is not sold here any more.

## Checkout
checkout-title = Checkout
your-order = Your order
change-cart = Change the cart
email = Email
for-receipt = (for the receipt)
optional = (optional)
name = Name
company = Company
vat-id = VAT id
billing-country = Billing country
choose-country = Choose the country you are billed in.
continue-to-payment = Continue to payment

## The success page
order-title = Order { $order }
confirming = Confirming your payment…
confirming-detail = We are waiting for the payment provider to confirm order { $order }. This page refreshes by itself; it takes a few seconds.
check-again = Check again
payment-failed = The payment did not go through
payment-failed-detail = Nothing was charged for order { $order }.
back-to-cart = Back to your cart
thank-you = Thank you for your order
order-paid = Order { $order } is paid.
receipt-emailed = A receipt is also sent by email to { $email }.
receipt = Receipt
total-paid = Total paid
keys-coming = Your license keys are being issued: they appear here in a moment.
your-keys = Your license keys
key-once = Keep it safe: this page shows it only once.
key-shown = (shown once already, and in your email)
see-in-account = See it in your account (downloads, licenses)

## The customer portal
account-title = Your account
sign-in-intro = See your orders, license keys and downloads. Enter the email address you bought with: we email you a link to sign in. No password needed.
email-me-link = Email me a sign-in link
link-sent = If { $email } is the address of an account here, a sign-in link is on its way to it. It works once, for 15 minutes.
sign-in = Sign in
sign-in-as = Sign in to your account as { $email }.
link-dead = This link no longer works
link-dead-detail = Sign-in links work once, for 15 minutes.
ask-new-link = Ask for a new one
signed-in-as = Signed in as { $email }.
company-documents = You also see the orders and invoices of { $companies }.
colleague-order = Another contact of your company placed this order: its licenses and downloads are theirs.
invoice-payment-confirming = Thank you: your payment is being confirmed. The invoice shows as paid once the provider confirms it.
orders = Orders
no-orders = No orders yet.
your-orders = Your orders
col-order = Order
col-date = Date
col-status = Status
col-total = Total
invoices = Invoices
no-invoices = No invoices.
your-invoices = Your invoices
col-invoice = Invoice
col-issued = Issued
col-actions = Actions
pay-amount = Pay { $amount }
pay-invoice = Pay { $amount } of invoice { $number }
sign-out = Sign out
order-status = Status: { $status }
order-lines = Order lines
licenses = Licenses
revoked = (revoked)
activations = { $count ->
    [one] 1 machine activated
   *[other] { $count } machines activated
}
activations-of = of { $max }
downloads = Downloads
no-files = This order has no files to download.
download-terms = ({ $platform }, version { $version }): works until { $expires } UTC, for { $count } downloads
links-shown-once = These links are shown only now: get new ones here whenever you need them.
get-download-links = Get download links

## Two-click checkout and saved cards
saved-card-title = Pay with your saved card
saved-card = Card saved on { $date }
pay-saved-card = Pay { $amount } now
or-pay-another-way = Or pay another way:
card-declined = Your saved card was declined ({ $reason }). Nothing was charged: pay another way below.
payment-methods = Payment methods
no-payment-methods = No saved cards.
add-card = Save a card for faster checkout
card-saved-on = Card saved on { $date } ({ $provider })
paypal-saved-on = PayPal account saved on { $date }
default-card = (default)
make-default = Make default
make-default-card = Make { $card } the default
remove = Remove
remove-card = Remove { $card }

older-orders = Older orders
older-invoices = Older invoices

## Plans (contracts and subscriptions)
plans = Subscriptions
no-plans = No subscriptions.
your-plans = Your subscriptions
col-plan = Plan
col-renewal = Renewal
col-per-period = Per period
col-seats = Change seats
plan-title = Subscription: { $plan }
plan-status = Status: { $status }
plan-lines = What the subscription bills
plan-by-usage = by usage
seats-for = Seats of { $product }
preview-change = Preview the change
next-invoice = Next invoice
plan-next-invoice = On { $date }: { $amount }, plus usage of the period.
plan-no-next-invoice = No further invoice is planned.
usage = Usage
usage-summary = { $meter }: { $this } so far this period (solid line), { $last } last period (dashed line).
renewal = Renewal
plan-open-ended = The subscription runs until it is ended; it has no renewal date.
plan-ends = The subscription ends on { $date } and will not renew.
plan-renews-cancel-until = The subscription renews on { $date }. You can cancel the renewal until { $deadline }.
plan-renews-notice-passed = The subscription renews on { $date }: the notice period for canceling has passed.
cancel-renewal = Cancel the renewal
resume-renewal = Resume the renewal
plan-renewal-canceled = The renewal is canceled.
plan-renewal-resumed = The subscription renews again.
plan-seats-changed = The seats are changed.
seats-title = Change seats
back-to-plan = Back to the subscription
seats-change = { $product }: from { $from } to { $to } seats.
seats-per-period = Each invoice from the next period changes by { $amount }.
seats-charged-now = For the rest of the period until { $date }, { $amount } is charged on the next invoice.
seats-credited-now = For the rest of the period until { $date }, { $amount } is credited on the next invoice.
seats-nothing-now = Nothing is charged or credited for the current period.
confirm-change = Confirm the change
switch-plan = Switch plan
deactivate-machine = Deactivate { $machine }
replace-key = Email me a new key
replace-key-of = Email me a new key for { $hint } (the old key stops working; machines activate again)
license-deactivated = The machine is deactivated: another machine can use its place.
license-replaced = A new key is on its way to your email. The old key no longer works.
challenge-needs-script = This shop checks that you are not a robot, which needs JavaScript: please turn it on for this page.
switch-from = Switch { $product } to
plan-option = { $plan }: { $amount } a month per seat
switch-title = Switch plan
switch-change = From { $from } to { $to } ({ $quantity } seats).
plan-switched = The plan is switched.
field-invalid = The field “{ $field }” is missing or not valid.

## Payment history
payment-history = Payment history
no-payments = No payments yet.
your-payments = Your payments
col-paid-for = Paid for
col-method = Method
paid-for-order = Order { $order }
paid-for-invoices = Invoice { $numbers }
paid-for-credit = Account credit
amount-returned = { $amount } refunded
older-payments = Older payments

## Account standing
notice-card-declined = Your card was declined ({ $code }), and { $overdue } is overdue. Save a new card below and make it the default, or pay the open invoices.
notice-past-due = Your account is past due: { $overdue } is overdue. Please pay the open invoices below.
notice-collections = Your account is in collections: { $overdue } is overdue, and access is limited until it is paid.
notice-closed = Your account is closed. Please contact support.

## Countries
country-at = Austria
country-au = Australia
country-be = Belgium
country-br = Brazil
country-ca = Canada
country-ch = Switzerland
country-cz = Czechia
country-de = Germany
country-dk = Denmark
country-es = Spain
country-fi = Finland
country-fr = France
country-gb = United Kingdom
country-ie = Ireland
country-in = India
country-it = Italy
country-jp = Japan
country-mx = Mexico
country-nl = Netherlands
country-no = Norway
country-nz = New Zealand
country-pl = Poland
country-pt = Portugal
country-se = Sweden
country-sg = Singapore
country-us = United States

## Refusals of the application core, by their code (pages in English show the core's own message).
refusal-parameter-invalid = { $param } is not valid. Please check what you entered.
refusal-parameter-missing = { $param } is missing.
refusal-cart-empty = The cart is empty: add a product first.
refusal-checkout-rate-limited = Too many attempts were started from here in a short time. Please wait 10 minutes and try again, or contact the shop.
refusal-sign-in-rate-limited = Too many sign-in links were asked for. Please wait a few minutes and try again.
refusal-challenge-failed = The check that you are not a robot did not pass. Please try again.
refusal-challenge-unavailable = The check that you are not a robot could not be completed. Please try again in a moment.
refusal-notice-period-passed = The notice period has passed: the renewal can no longer be canceled.
refusal-invoice-not-payable = This invoice cannot be paid online (it is { $state }).
refusal-promotion-code-invalid = There is no such promotion code.
refusal-promotion-code-expired = This promotion code has expired.
refusal-promotion-code-inactive = This promotion code is no longer active.
refusal-promotion-code-exhausted = This promotion code has been redeemed as often as it may be.
refusal-coupon-expired = This discount has expired.
refusal-coupon-exhausted = This discount has been redeemed as often as it may be.
refusal-contract-ended = This subscription has ended and can no longer be changed.
refusal-quantity-invalid = The quantity must be at least 1.
refusal-period-invoiced = This period has been invoiced and can no longer be changed.
refusal-renewal-not-canceled = The renewal is not canceled.
refusal-resource-missing = This is not (or no longer) here.
