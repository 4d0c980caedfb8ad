# Lifeline desk console: English. Every key here is in zh-CN.ftl too.

app-name = Lifeline emergency system
back-to-desk = Back to the desk
logout = Log out
print = Print
refused-title = Could not be done
emergency-mark = Emergency

## Desks
desk-registration = Registration
desk-triage = Triage
desk-doctor = Doctor
desk-cashier = Cashier
desk-pharmacy = Pharmacy
desk-admin = Information department

## Banner
banner-normal = Normal operation
banner-unknown = Reading the system's state…
banner-episode = EMERGENCY YJ · episode { $id } · since { $since } · expected grade { $grade }
banner-degraded = Central has been unreachable since { $since }; no emergency episode yet
banner-primary = primary: { $primary }
banner-no-primary = none
banner-isolated = This window is isolated: data is kept here and synchronised when the network is back
banner-arriving = This window's working set is still arriving from { $from } ({ $percent }%): some records may be missing

## Log-in
login-title = Log in
login-name = Operator name
login-password = Password (the one-time setup code on your first log-in)
login-hint = Five wrong passwords in a row lock the name for 15 minutes.
login-submit = Log in
login-failed = Wrong operator name or password.
login-locked = This operator is locked after repeated failures; try again after { $until } or call the information department.
login-expired-form = The log-in page had expired; please enter your details again.
password-title = Choose a password
password-explain = You logged in with a one-time setup code; choose your own password (at least 8 characters).
password-new = New password
password-again = New password again
password-submit = Save the password
password-mismatch = The two passwords differ.
password-too-short = A password has 8 to 128 characters.

## Errors shown to staff (by the API's error code)
error-field = (field: { $field })
error-forbidden = This desk may not do that.
error-not_found = No such record.
error-invalid = Something entered is not valid; check it and try again.
error-refused = The rules do not allow this.
error-storage = This PC's store could not be read; call the information department.
error-not_saved = Not saved; try again, and if it fails again use the paper forms and call the information department.
error-internal = Internal error; call the information department.
error-catalog_missing = The drug and service catalogs have not reached this PC yet.
error-csrf = The form had expired; reload the page and try again.
error-other = Not done.

## Statuses
status-registered = registered
status-paused = held
status-queued = waiting
status-called = called
status-cancelled = cancelled
status-seen = seen
status-issued = issued
status-printed = printed
status-dispensed = dispensed
status-pending = to pay
status-settled = paid
status-invoiced = invoiced
status-refunded = refunded
status-resettled = re-settled

## Patients
sex-male = male
sex-female = female
sex-unknown = unknown
insurance-self-pay = self-pay
insurance-employee = employee insurance
insurance-resident = resident insurance

## Registration
reg-title = Registration
reg-number = Card number
reg-national-id = ID number
reg-name = Name
reg-guardian-phone = Guardian's phone
reg-birth-date = Date of birth
reg-search = Find
reg-search-hint = Fill in one and press Enter: card number, ID number, name (with the birth date if you like), or a guardian's phone with the birth date.
reg-no-match = No patient matches; add a new patient.
reg-more = Too many matches; the first 50 are shown. Narrow the search.
reg-matches = Matching patients
reg-pick = Choose
reg-patient = Patient
reg-sex = Sex
reg-phone = Phone
reg-insurance = Insurance
reg-guardian = Guardian
reg-guardian-name = Guardian's name
reg-guardian-relationship = Relationship
reg-guardian-national-id = Guardian's ID number
reg-new-patient = New patient
reg-save-patient = Save the patient
reg-department = Department
reg-expert = Expert
reg-register = Register and print the slip

## Slip and prescription
slip-title = Registration slip
slip-number = Registration no.
slip-patient = Patient
slip-fee = Fee
slip-time = Time
slip-operator = Operator
slip-emergency-note = Registered during an emergency; it is carried over when the system is back, no need to register again.
rx-title = Prescription
rx-doctor = Doctor
rx-quantity = Quantity
rx-dosage = Dosage
rx-price = Unit price
rx-total = Total
rx-signature = Doctor's signature:
rx-emergency-note = Emergency prescription: may be printed; dispensed in the system once central has confirmed it.

## Triage, doctor, pharmacy
triage-title = Triage
triage-held = emergency registration, held until restored
triage-call = Call
triage-restore = Restore to the queue
queue-empty = Nobody is waiting.
queue-status = Status
doctor-title = Doctor
doctor-open = See
doctor-no-history = Past records are not available during the emergency; ask the patient or family.
doctor-history-arriving = This window's records are still arriving: past records may be incomplete; ask the patient or family.
doctor-drug-hint = Type a drug's code, name or pinyin initials (e.g. amxl) and pick it from the list.
doctor-item = Drug
doctor-drug = Drug
doctor-prescribe = Prescribe and print
pharmacy-title = Pharmacy
pharmacy-on-hold = waiting for central
pharmacy-print = Print the prescription
pharmacy-dispense = Dispense

## Cashier
cashier-title = Cashier
cashier-no-range = This PC has no invoice range yet; call the information department.
cashier-next-invoice = Next invoice: code { $code }, number { $number } ({ $remaining } left in this range)
cashier-confirm-shift = Before the shift, check the invoices in hand: the system's next number is { $number }.
cashier-stock-code = Invoice code
cashier-first-number = Number of the first invoice in hand
cashier-start-shift = Confirm and start the shift
cashier-amount = Amount
cashier-requested = Payment
cashier-channel = Paid by
cashier-insurance-failed = Insurance settlement failed: take it as self-pay
cashier-settle = Take payment and print the receipt
cashier-receipt = Receipt
cashier-invoice = Issue the invoice
cashier-invoices = Invoices
cashier-voided = voided
cashier-void-reason = Reason for voiding
cashier-void = Void
cashier-method-insurance = insurance
channel-cash = cash
channel-bank_card = bank card
channel-wechat = WeChat Pay
channel-alipay = Alipay
channel-insurance_fund = insurance fund
channel-personal_account = insurance personal account
receipt-title = Receipt
receipt-due-after-episode = within 7 working days of the day the system is back
resettle-title = Insurance re-settlement notice
resettle-text = The insurance settlement failed, so this was paid as self-pay. Bring this receipt to the cashier by { $due } to settle it with the insurance; the difference is refunded.
invoice-title = Medical invoice
invoice-code = Invoice code
invoice-number = Invoice number

## Information department
info-title = Information department
info-peers = Connections
info-connected = connected
info-disconnected = not connected
info-status = Status
info-records = Records
info-unreconciled = Emergency records central has not confirmed
info-open-conflicts = Open conflicts
info-worklist = Recovery worklist
info-conflicts = Conflicts
info-none = None.
info-confirm = Confirm
info-keep-separate = Different people: keep both
info-choose = Keep:
info-merge = Merge into one patient
info-episodes = Emergency episodes
info-open = ongoing
info-grade = grade
info-ranges = Number ranges
info-next = next
info-remaining = left
work-dispense_emergency_prescription = Emergency prescription to dispense in the system
work-restore_paused_visit = Held emergency registration to restore to the queue
work-resettle_insurance = Insurance settlement to redo
work-merge_duplicate_patient = Duplicate patient to merge
work-review_conflict = Conflict to review
cashier-voided-number = Invoice { $number } is voided; its charge can go on a new invoice.
