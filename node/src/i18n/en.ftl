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
error-store_damaged = This window's data file is damaged and it saves nothing more. Use the paper forms or another window, and call the information department to restore it from a backup.
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
doctor-prescription = Prescription
doctor-orders = Examinations, lab tests and treatments
doctor-service-hint = Type an item's code, name or pinyin initials (e.g. xcg for a blood count) and pick it from the list.
doctor-service-item = Item
doctor-service = Service item
doctor-order = Order
doctor-ordered = Ordered: { $items }, total { $amount }. The patient pays at the cashier.
doctor-visit-orders = Ordered for this visit
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
cashier-items = Items
cashier-resettle-notice = Re-settlement notice
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
notice-title = Notice of insurance re-settlement
notice-visit-date = Visit date
notice-self-paid = Paid as self-pay
notice-settled-at = Paid at
notice-due = Re-settle by
notice-place = Where
notice-place-text = the outpatient cashier's window
notice-text = The insurance settlement failed, so this was paid as self-pay. By the date above, bring this notice, the receipt and the insurance card to { $place } to have the insurance settle it; what the insurance pays is refunded to you.
invoice-title = Medical invoice
invoice-code = Invoice code
invoice-number = Invoice number

## Information department
info-title = Information department
info-work-item = { $category }: { $patient } · { $what }
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

## Reports
## The conflict review and outage reports (`lifeline conflicts`, `lifeline episode report`:
## text and HTML), read by the information department. Keys start with `report-`.

report-footer = Lifeline — hospital outpatient continuity. This file is self-contained: it loads nothing and runs no scripts.
report-contents = Contents
report-summary = Summary
report-total = Total
report-yes = yes
report-no = no
report-none = None.
report-none-short = none
report-list-separator = {", "}
report-colon = {": "}
report-clause-separator = {"; "}
report-value-empty = (empty)
report-value-shown = shown
report-duration-hms = { $h }h { $m }m { $s }s
report-duration-ms = { $m }m { $s }s
report-duration-s = { $s }s
report-status-open = open
report-status-resolved = resolved
report-kind-field_conflict = Field conflict
report-kind-duplicate_patient = Duplicate patient
report-kind-double_dispense = Double dispense
report-kind-dispensed_and_cancelled = Dispensed and cancelled
report-kind-double_settlement = Double settlement
report-kind-double_invoice = Double invoice
report-record-patient = { $count ->
    [one] patient
   *[other] patients
}
report-record-visit = { $count ->
    [one] visit
   *[other] visits
}
report-record-prescription = { $count ->
    [one] prescription
   *[other] prescriptions
}
report-record-charge = { $count ->
    [one] charge
   *[other] charges
}
report-record-invoice = { $count ->
    [one] invoice
   *[other] invoices
}
report-record-dispense = { $count ->
    [one] dispense
   *[other] dispenses
}
report-record-drug_catalog = { $count ->
    [one] drug catalog
   *[other] drug catalogs
}
report-record-service_catalog = { $count ->
    [one] service catalog
   *[other] service catalogs
}
report-record-episode = { $count ->
    [one] episode
   *[other] episodes
}
report-record-lease = { $count ->
    [one] lease
   *[other] leases
}
report-record-drug_item = { $count ->
    [one] drug
   *[other] drugs
}
report-record-service_item = { $count ->
    [one] service item
   *[other] service items
}
report-record-receipt = { $count ->
    [one] central's receipt
   *[other] central's receipts
}
report-record-refund = { $count ->
    [one] refund
   *[other] refunds
}
report-record-resettlement = { $count ->
    [one] re-settlement
   *[other] re-settlements
}
report-series-invoice = invoice
report-series-emergency_registration = emergency registration
report-about = { $name }, patient { $number }
report-about-aged = { $name } ({ $age }), patient { $number }

## Reports: the conflict review report
report-conflicts-heading = Conflict review report
report-conflicts-title = Lifeline — conflict review — { $node }
report-conflicts-meta = Node { $node } · generated { $generated } ({ $zone })
report-conflicts-terminal = CONFLICT REVIEW REPORT  node { $node }  generated { $generated } ({ $zone })
report-conflicts-counts = { $open } open, { $resolved } resolved
report-conflicts-none = No conflicts: nothing to review.
report-conflicts-none-terminal = no conflicts: nothing to review
report-conflict-title = { $kind }: { $record_kind } { $records }
report-conflict-title-about = {" "}({ $subject })
report-conflict-title-field = , field { $field }
report-col-kind = Kind
report-col-open = Open
report-col-resolved = Resolved
report-fact-id = id
report-fact-conflict-id = Conflict id
report-fact-records = { $count ->
    [one] Record
   *[other] Records
}
report-record-kind-note = {" "}({ $kind })
report-fact-about = About
report-fact-field = Field
report-competing-values = Competing values
report-col-value = Value
report-col-node = Node
report-col-operator = Operator
report-col-desk = Desk
report-col-operation = Operation
report-col-written = Written ({ $zone })
report-col-shown-now = Shown now
report-automatic-decision = Automatic decision
report-automatic-none = None: the rules leave this to a person.
report-automatic-field_conflict = currently shown: value { $index } ({ $value }), Automerge's deterministic pick; open until a reviewer chooses
report-automatic-double_dispense = the prescription stays dispensed (furthest state), but the drugs may have been handed out twice: check the stock and the patient, then confirm
report-automatic-dispensed_and_cancelled = kept dispensed: the furthest-state rule outranks the cancel; a person must confirm the drugs were handed out
report-automatic-double_settlement = the charge stays settled, but it was settled on two nodes: the patient may have paid twice; refund one payment, then confirm
report-automatic-double_invoice = the charge stays invoiced, but two invoices cover it: void one, then confirm
report-decision = Decision
report-decision-reopened = Earlier decision (reopened by new values)
report-decision-by = { $decision } by { $operator } on { $node } at { $at }
report-decision-by-zone = { $decision } — by { $operator } on { $node } at { $at } ({ $zone })
report-decision-chose = chose value { $index }: { $value }
report-decision-his-later = took the HIS's later state, value { $index }: { $value } (both servers pulled from the HIS; decided by the system)
report-decision-merged = merged { $duplicate } into { $survivor }
report-decision-kept-separate = kept separate: different people
report-decision-confirmed = confirmed after checking
report-reviewer-can = What a reviewer can do
report-action-choose = keep value { $index }: { $value }
report-action-confirm = confirm what the rules kept, after checking
report-action-merge = keep { $survivor }, merge { $duplicate } into it
report-action-keep-separate = they are different people: keep both records
report-action-other = an action this version cannot show
report-evidence = Evidence
report-same-key = same { $key } ({ $value })
report-same-key-page = same { $key }:{" "}
report-key-his_id = HIS patient id
report-key-national_id = national id
report-key-name_birth_date_phone = name, birth date and phone
report-col-field = Field
report-col-record = Record { $n }
report-p-record = Record
report-p-patient-no = Patient no
report-p-his = HIS patient
report-p-his-master = HIS patient (master)
report-p-his-deleted = { $his } (deleted in the HIS)
report-p-name = Name
report-p-sex = Sex
report-p-birth-date = Birth date
report-p-phone = Phone
report-p-national-id = National id
report-p-insurance = Insurance
report-p-created-on = Created on
report-p-created-on-node = Created on node
report-p-by = By
report-p-created-by = Created by
report-p-at = At ({ $zone })
report-p-created-at = Created at ({ $zone })
report-p-episode = Episode
report-p-emergency-episode = Emergency episode
report-p-merged-into = Merged into

## Reports: the outage report
report-outage-kind = Outage report
report-drill-kind = Drill report
report-outage-heading = { $kind } { $episode }
report-outage-title = Lifeline — { $kind } { $episode }
report-outage-meta = Read on node { $node } · generated { $generated } ({ $zone })
report-outage-terminal = { $kind }  { $episode }  (read on { $node }, generated { $generated } { $zone })
report-outage-none-title = Lifeline — outage report
report-outage-none-heading = Outage report
report-outage-none = No emergency episode on record.
report-outage-none-terminal = no emergency episode on record
report-timeline = Timeline
report-money = Money collected during the episode
report-nodes = Nodes
report-records = Records created per kind
report-records-terminal = Records created during the episode: { $total }
report-records-terminal-awaiting = Records created during the episode: { $total } ({ $awaiting } not yet acknowledged by central)
report-invoices = Invoices issued per range
report-episode-conflicts = Conflicts touching the episode
report-episode-conflicts-terminal = Conflicts touching the episode: { $touching } ({ $open } open, { $resolved } resolved); open in the hospital: { $hospital }
report-worklist = Recovery worklist
report-f-drill = Drill
report-drill-note = a drill, not an outage: graded apart, kept out of outage statistics
report-f-episode = Episode
report-f-grade = Grade
report-grade-meaning = {" "}— { $meaning }
report-grade-IV = general (一般): under 2 hours
report-grade-III = larger (较大): 2 to 12 hours; report to leadership
report-grade-II = major (重大): 12 to 24 hours; report to leadership
report-grade-I = especially major (特别重大): over 24 hours; report to leadership
report-grade-unknown = unknown grade
report-f-reason = Reason
report-f-cause = Cause
report-cause-none = not recorded yet
report-f-opened = Opened
report-opened-value = { $at } ({ $zone }), { $how }
report-opened-automatically = automatically by { $node } (central unreachable)
report-opened-declared = declared by { $operator } on { $node }
report-f-closed = Closed
report-closed-at = { $at } ({ $zone })
report-closed-at-by = { $at } ({ $zone }) by { $by }
report-still-open = still open
report-f-duration = Duration
report-duration-so-far = { $duration } so far
report-f-expected-grade = Expected grade
report-expected-grade-value = { $grade } (from the latest estimate)
report-f-written-report-due = Written report due
report-written-report-due-value = { $due } ({ $zone }): 2 days after the outage ended, to the leadership (故障排除后2天内)
report-f-merged = Merged into it
report-f-leadership = Leadership
report-leadership-note = grade III or above: report to leadership
report-f-report-to-leadership = Report to leadership
report-grade-iii-or-above = {" "}(grade III or above)
report-f-pharmacy = Pharmacy
report-f-pharmacy-slips = Pharmacy slips
report-slips-same-day = ended the same day: reconcile re-entered dispensing against the paper slips
report-slips-next-day = ended after midnight: that day's slips go to billing for entry
report-f-records-created = Records created
report-f-conflicts = Conflicts
report-conflicts-fact = { $touching } touching the episode ({ $open } open, { $resolved } resolved); { $hospital } open in the hospital
report-col-time = Time ({ $zone })
report-col-event = Event
report-col-what = What
report-event-opened = opened
report-event-estimate = estimate
report-event-assess = assess
report-event-escalate_6h = escalate (6 h)
report-event-escalate_24h = escalate (24 h)
report-event-recovered = recovered
report-event-closed = closed
report-what-opened = opened by { $operator } on { $node }: { $reason }
report-what-estimate = { $operator } on { $node } estimated the system back in { $hours } h, at { $back }
report-what-recovered = { $node } saw the system of record back
report-what-closed = the outage ended
report-step-assess = 30 minutes: the information department finds the cause and estimates the recovery time (lifeline emergency estimate)
report-step-escalate_6h = 6 hours: nurse stations, labs, operating rooms and the emergency centre go manual; report to the leadership
report-step-escalate_24h = 24 hours: the whole hospital goes manual
report-col-channel = Channel
report-col-amount = Amount
report-nothing-settled = (nothing settled)
report-money-total = { $charges ->
    [one] Total (1 charge)
   *[other] Total ({ $charges } charges)
}
report-awaiting-resettlement = Awaiting re-settlement (insurance failed, paid as self-pay): { $charges ->
    [one] 1 charge
   *[other] { $charges } charges
}, { $amount }
report-col-joined = Joined ({ $zone })
report-col-left = Left ({ $zone })
report-col-reference = Reference data
report-reference-versions = drugs v{ $drugs } / services v{ $services }
report-col-drug-catalog = Drug catalog
report-col-service-catalog = Service catalog
report-col-reference-changed = Reference data changed
report-col-data-age = Data age at join
report-col-records = Records
report-col-count = Count
report-records-awaiting = { $n } of them not yet acknowledged by central.
report-invoices-none = No invoices issued during the episode.
report-col-range = Range
report-col-series = Series
report-col-issued = Issued
report-col-first = First
report-col-last = Last
report-col-voided = Voided
report-conflict-entry = {"["}{ $status }] { $kind }
report-conflict-entry-about = {"["}{ $status }] { $kind } — { $subject }
report-conflict-entry-decision = decision: { $decision }
report-col-status = Status
report-col-about = About
report-col-conflict-id = Conflict id
report-col-decision = Decision
report-col-category = Category
report-col-done = Done
report-col-total = Total
report-col-progress = Progress
report-nothing-to-do = nothing to do
report-recovery-complete = recovery complete: nothing left to do
report-items-to-do = { $n ->
    [one] 1 item still to do
   *[other] { $n } items still to do
}
report-see-conflicts = see `lifeline conflicts` for the conflicts to review
report-work-dispense_emergency_prescription = Emergency prescriptions to dispense in the system
report-work-restore_paused_visit = Paused triage entries to restore
report-work-resettle_insurance = Insurance settlements to redo
report-work-merge_duplicate_patient = Duplicate patients to merge
report-work-review_conflict = Conflicts to review
report-work-fix_his_rejection = Records the HIS refused to import

## CLI
## What the commands print for people (`lifeline status`, `reconcile`, `conflicts`, `ranges`,
## `quarantine`, `episode`, `emergency`, `resolve`, `merge-patients`, `report cashier`) and
## the errors they say. Keys start with `cli-`.

cli-none = none
cli-never = never
cli-written-to = written to { $path }
cli-warning = warning: { $warning }
cli-ago-s = { $s }s ago
cli-ago-m = { $m }m{ $s }s ago
cli-ago-h = { $h }h{ $m }m ago
cli-error-no-token = cannot read the admin token { $path } (is the daemon running, and are you its owner?)
cli-error-unreachable = cannot reach the node at { $address } (is the daemon running?)
cli-error-refused = { $path }: { $status }: { $message }
cli-mode-normal = NORMAL
cli-mode-degraded = DEGRADED
cli-mode-isolated = ISOLATED
cli-role-central = central
cli-role-standby = standby
cli-role-window = window
cli-status-head = { $node } ({ $role })  mode { $mode } since { $since }
cli-status-head-desks = { $node } ({ $role }: { $desks })  mode { $mode } since { $since }
cli-status-primary = primary: { $primary }
cli-status-in-sync = IN SYNC: everything replicated and reconciled
cli-status-not-in-sync = not in sync: { $reasons }
cli-why-mode = mode is { $mode }
cli-why-episode = in an emergency episode
cli-why-unacknowledged = { $n } emergency records not yet acknowledged by central
cli-why-central = central is not connected
cli-why-backlog = { $peer }: { $send } records to send, { $receive } to receive
cli-why-digest = { $peer }: the last digest comparison found a difference
cli-why-working-set = the working set is still arriving ({ $percent }%)
cli-why-his-down = the HIS does not answer
cli-why-his-untried = the HIS has not been reached yet
cli-why-his-waiting = { $n } rows pushed into the HIS's interface tables that it has not imported yet
cli-why-his-refused = { $n } rows the HIS refused (see the recovery worklist)
cli-status-no-server = no server yet
cli-status-working-set-ready = working set: ready (patients, catalogs and the last { $days } days, from { $from })
cli-status-working-set-arriving = working set arriving from { $from }: { $bar }  ({ $applied } of { $of } in its feed)
cli-status-central-lost = central unreachable since { $since } ({ $ago })
cli-status-his-lost = the HIS unreachable since { $since } ({ $ago })
cli-status-episode = EMERGENCY episode { $id } since { $since }: { $reason }
cli-status-drill = DRILL { $id } since { $since }: { $reason }
cli-status-expected-grade = expected grade { $grade }
cli-status-expected-grade-back = expected grade { $grade } (system expected back at { $back })
cli-status-next-step = next step at { $at }: { $what }
cli-status-no-estimate = NO ESTIMATE YET: 30 minutes have passed; record the recovery time and cause (lifeline emergency estimate --hours N --cause TEXT)
cli-status-cause = cause: { $cause }
cli-status-no-episode = no emergency episode
cli-status-reconciling = { $n ->
    [one] outage over: episode { $id } reconciling (1 record still to reach central); desks write normal records
   *[other] outage over: episode { $id } reconciling ({ $n } records still to reach central); desks write normal records
}
cli-status-peers = peers
cli-status-col-name = name
cli-status-col-role = role
cli-status-col-state = state
cli-status-col-rtt = rtt
cli-status-col-last-contact = last contact
cli-status-col-to-send = to send
cli-status-col-to-receive = to recv
cli-status-col-convergence = convergence
cli-status-connected = connected
cli-status-down = DOWN
cli-status-not-tried = not tried
cli-status-conv-in-sync = in sync for { $n } records
cli-status-conv-differs = differs (peer has { $n } records)
cli-status-conv-unknown = not compared yet
cli-status-peer-refused = { $n } records refused from this peer ({ $reasons }): see lifeline quarantine list
cli-status-peer-violations = { $n } connections closed: the peer broke the protocol (see the audit trail, sync.violation)
cli-status-peer-repairs = digests with this peer stayed different: repaired { $n } times, { $records } records it lacked sent whole (a drift: see docs/design.md)
cli-status-peer-roster = { $n } roster entries from this peer refused: the hospital CA does not vouch for them
cli-status-last-error = last error: { $error }
cli-status-pulled = pulled { $ago }
cli-status-not-pulled = not pulled yet
cli-status-watching = {" "}(watching)
cli-status-his-refused = { $n } rows refused by the HIS (lifeline his status)
cli-status-no-peers = (no peers yet)
cli-status-unreconciled = emergency records not yet reconciled with central: { $n }
cli-status-open-work = open conflicts: { $conflicts }   recovery worklist: { $worklist } items
cli-status-overdue = {" "}({ $n } OVERDUE re-settlement(s): GET /admin/worklist?overdue=true)
cli-status-ranges = number ranges
cli-status-range-left = { $remaining } left (next { $next })
cli-status-no-ranges = (none held)
cli-status-leasing-held = Leasing held: this node lost history (restored, or its store copied back) and leases from its cursor again once it has caught up with: { $nodes }. If a range is needed now, lease one by hand with its first number given.
cli-status-requests-wait = Range requests waiting: this node answers the requests of { $nodes } once it has caught up with them since it started (so that a range it granted before is never granted again); check their connection to this node.
cli-status-store = store { $path }: { $records } records, { $mib } MiB on disk, { $audit } audit entries
cli-status-check-running = store check running (since { $since }); the node works meanwhile
cli-status-check-passed = store check passed ({ $at }, took { $seconds } s)
cli-status-check-damaged = !! the store file is damaged (found { $at }): restore this node from a backup with lifeline restore. Details: { $error }
cli-status-restore-drill = restore drill: last on { $at } by { $operator } ({ $result })
cli-status-passed = passed
cli-status-failed = FAILED
cli-status-drill-overdue = WARNING: the last restore drill was on { $at }, more than 31 days ago (the plan: monthly): lifeline verify BACKUP
cli-status-no-drill = WARNING: no restore drill recorded on this node (the plan: monthly): lifeline verify BACKUP
cli-status-calendar = WARNING: the working-day calendar ({ $source }) has holidays until { $until }; past that, Monday to Friday are counted: install the next year's ([hospital] calendar)
cli-reconcile-bar = reconcile
cli-reconciled = { $node }: reconciled in { $seconds } s (mode normal, nothing waiting, no episode open)
cli-not-reconciled = { $node }: not reconciled after { $timeout }: mode { $mode }, { $unacknowledged } emergency records unacknowledged, { $waiting } records waiting, episode { $episode }
cli-emergency-open = emergency episode { $episode } is open (saved durably)
cli-emergency-drill-open = drill { $episode } is open (saved durably)
cli-emergency-stopped = emergency episode { $episode } stopped
cli-emergency-none = this node was not in an emergency episode
cli-emergency-estimated = estimate recorded on episode { $episode }: back in { $hours } h (see `lifeline status` for the expected grade)
cli-episode-col-episode = episode
cli-episode-col-grade = grade
cli-episode-col-state = state
cli-episode-col-opened = opened ({ $zone })
cli-episode-col-closed = closed ({ $zone })
cli-episode-col-duration = duration
cli-episode-col-nodes = nodes
cli-episode-drills = drills (not outages):
cli-episode-open = open
cli-episode-closed = closed
cli-episode-merged = merged
cli-episode-merged-into = merged into { $episode }
cli-quarantine-empty = the quarantine is empty: no record was refused from a peer
cli-quarantine-line = { $first }  from { $peer } record { $record }  refused: { $reason }
cli-quarantine-times = {" "}({ $times } times, last { $last })
cli-quarantine-title = quarantined record { $seq }
cli-quarantine-record = record
cli-quarantine-from = from
cli-quarantine-first = first
cli-quarantine-last = last
cli-quarantine-last-value = { $last } ({ $times } times)
cli-quarantine-refused = refused
cli-quarantine-changes = changes
cli-quarantine-detail = detail
cli-quarantine-bytes = { $bytes } bytes
cli-quarantine-bytes-kept = { $bytes } bytes (the first { $kept } kept)
cli-ranges-leased = leased { $range } to { $holder } (recorded; it reaches the window through the mesh)
cli-ranges-node = number ranges held by { $node }
cli-ranges-hospital = number ranges of every node, as the records on { $node } show them
cli-ranges-col-range = range
cli-ranges-col-holder = holder
cli-ranges-col-cashier = cashier
cli-ranges-col-issued = issued
cli-ranges-col-voided = voided
cli-ranges-col-unused = unused
cli-ranges-col-gaps = gaps
cli-ranges-col-past = past
cli-ranges-col-dups = dups
cli-ranges-gaps = gaps: numbers no record here carries yet (lost, or written on a node whose records have not arrived)
cli-ranges-clean = no gaps, no duplicates, no overlapping ranges
cli-ranges-problem = PROBLEM: gaps, duplicates or overlapping ranges found (see --json)
cli-review-token-file = cannot read the token file { $path }
cli-review-no-token = give the reviewer's token with --token-file PATH or LIFELINE_TOKEN
cli-review-one-decision = give exactly one of --choose N, --confirm or --keep-separate
cli-review-decided = { $conflict }: { $decision } (by { $operator } on { $node }, saved durably; it replicates to every node)
cli-cashier-title = cashier summary { $date } on { $node }
cli-cashier-incomplete = INCOMPLETE: run during emergency episode { $episode }; run it again once the system of record is back
cli-cashier-col-cashier = cashier
cli-cashier-col-settled = settled
cli-cashier-col-net = net
cli-cashier-col-refunds = refunds
cli-cashier-col-resettle = resettle
cli-cashier-col-invoices = invoices
cli-cashier-col-to-resettle = to resettle
cli-cashier-collected = collected: { $amounts }
cli-cashier-refunded = refunded: { $amounts }
cli-cashier-resettled = re-settled: { $amounts } (given back: { $returned })
cli-cashier-nothing = (nothing settled that day)
cli-cashier-by-channel = by channel: { $amounts }
cli-cashier-net-total = net total: { $amount }
cli-cashier-drill-left-out = { $n ->
    [one] 1 drill record left out
   *[other] { $n } drill records left out
}

## What core writes as codes (`i18n/codes.rs`): a work item's pending task, an episode's
## automatic reason, why a peer's record was refused.

pending-emergency_prescription = emergency prescription ({ $status }), { $items ->
    [one] 1 item
   *[other] { $items } items
}, written by { $operator } on { $origin }
pending-paused_registration = paused emergency registration { $no } ({ $department })
pending-self_paid-due = { $amount } paid as self-pay when the insurance settlement failed; re-settle by { $due }
pending-self_paid-after = { $amount } paid as self-pay when the insurance settlement failed; due 7 working days after the outage ends
pending-his_refused = the HIS refused revision { $revision } in { $table }: { $reason }
pending-conflict = { $kind }: { $record }
pending-conflict-values = , values: { $values }
episode-reason-central_unreachable = central unreachable for { $seconds } s
episode-reason-his_unreachable = the HIS unreachable for { $seconds } s
episode-reason-central_in_outage = central is in an emergency episode
refusal-undecodable = changes that do not decode
refusal-bad_sync_message = a sync message that does not decode or apply
refusal-no_header = no valid record header
refusal-wrong_id = the document says it is another record
refusal-unsigned = unsigned changes
refusal-unknown_key = signed with a key the hospital CA did not certify
refusal-revoked = signed with a revoked key
refusal-bad_signature = invalid signature
refusal-forged_author = a change claims another node as its author
refusal-unknown_author = an unknown author node
refusal-catalog_not_from_central = catalog data not from central
refusal-kind_not_allowed = the node may not write records of this kind
refusal-header_rewritten = the record header rewritten
refusal-field_not_allowed = the node may not write this field
refusal-status_backwards = a status moved backwards (statuses only move forward)
refusal-bad_lease = a number range lease that breaks the rules
refusal-invalid = the record does not read as its kind
refusal-unreadable = changes that cannot be read
refusal-unknowable = this node lacks the records the rules need
refusal-check_failed = checking the rules failed

## Set-up and administration commands (`ca`, `operator`, `catalog`, `backup`, `restore`,
## `verify`, `revoke`, `export`, `his`).

cli-cannot-read = cannot read { $path }
cli-cannot-create = cannot create { $path }
cli-cannot-write = cannot write { $path }
cli-cannot-open-store = cannot open the store { $path }
cli-daemon-unreadable = unreadable answer from the daemon
cli-daemon-unexpected = unexpected answer from the daemon
cli-ca-created = created the hospital CA: { $cert } (key { $key }, mode 0600)
cli-ca-issued = issued { $name } ({ $subject }): { $cert } (key { $key }, mode 0600), valid { $days } days
cli-ca-revoked = revoked { $name } (key { $key }): { $path }
cli-ca-hand-over = hand it to central: lifeline revoke -c central.toml --file { $path }
cli-revoke-cannot-read = cannot read the revocation { $path }
cli-revoke-taken = { $node } took the revocation: { $name } is refused from now on ({ $reason }), and every peer will be told
cli-revoke-held = { $node } already held the revocation: { $name } is refused ({ $reason }), and every peer will be told
cli-catalog-nothing = nothing to import: give --drugs, --services and/or --departments
cli-catalog-saved = catalogs saved: drug catalog version { $drugs }, service catalog version { $services }
cli-export-resources = { $n } resources
cli-export-manifest = manifest: { $path }
cli-operator-password-prompt = console password (at least 8 characters, shown as typed):{" "}
cli-operator-added = operator { $name } ({ $desk } desk) added{ $until }; token (shown once):
cli-operator-valid-for = , valid for { $duration }
cli-operator-setup-code = console setup code (one-time; log in with it once and choose a password):
cli-operator-password-set = console password set
cli-operator-token-rotated = the admin token was rotated: the new one is in { $path } (the old one no longer works)
cli-operator-removed = operator { $name } removed: their token no longer works
cli-operator-expires = expires { $at }
cli-operator-no-expiry = no expiry
cli-progress-backup = backup
cli-progress-restore = restore
cli-progress-verify = verify
cli-progress-compact = compact
cli-backup-bad-path = { $path } is not a usable path
cli-backup-no-store = no daemon answers ({ $why }) and there is no store at { $path }
cli-backup-direct = the daemon is not running ({ $why }): backing up { $path } directly
cli-backup-held = { $error }: the daemon holds the store but its API does not answer ({ $why }); check `lifeline status`
cli-backup-no-token = cannot read the admin token { $path }: { $error }
cli-backup-spinner = backup through the daemon at { $address }
cli-backup-unanswered = its API at { $address } does not answer: { $error }
cli-backup-refused = the daemon did not write the backup: { $status }: { $message }
cli-backup-written = backup written to { $path } ({ $how })
cli-backup-how-daemon = through the running daemon
cli-backup-how-stopped = with the daemon stopped
cli-backup-facts = node { $node }, taken { $at }: { $records } records, { $audit } audit entries, feed at { $feed }
cli-backup-size = { $size }, sha256 { $sha } (also in { $file })
cli-backup-check = check it with: lifeline verify { $path }
cli-compact-failed = the store { $path } was not compacted (it is unchanged)
cli-compact-done = compacted { $path }: { $before } → { $after } ({ $percent }% given back)
cli-compact-facts = node { $node }: { $records } records, { $audit } audit entries (chain intact), feed at { $feed }, incarnation { $incarnation } unchanged
cli-restore-failed = the store { $path } was not restored (it is unchanged)
cli-restore-done = restored { $from } into { $to }
cli-restore-from-other = {" "}(from a backup of { $node })
cli-restore-facts = node { $node }{ $origin }: { $records } records, { $audit } audit entries (chain intact), feed at { $feed }
cli-restore-sha-matches = { $size }, sha256 { $sha } matches { $file }
cli-restore-sha-alone = { $size }, sha256 { $sha } (no checksum file beside the backup to compare with)
cli-restore-incarnation = new incarnation { $incarnation }: peers will see this store lost history and resend what it lacks
cli-restore-previous = the replaced store is kept as { $path }
cli-restore-start = start the daemon again: lifeline daemon -c { $config }
cli-verify-snapshot = snapshot { $path } ({ $size })
cli-verify-compared = compared with { $file }
cli-verify-no-checksum = no checksum file beside it
cli-verify-node = node { $node }, incarnation { $incarnation }
cli-verify-records = { $records } records read back ({ $kinds }), { $feed } in the feed, { $audit } audit entries, { $ranges } number ranges
cli-verify-pass = PASS: restored in a scratch directory; every record, the audit chain and the number ranges check out ({ $seconds } s)
cli-verify-fail = FAIL: { $n } problem(s)
cli-verify-more = ... and { $n } more
cli-verify-recorded = restore drill recorded { $how }
cli-verify-how-daemon = on the node, through its daemon
cli-verify-how-store = in the node's store (its daemon is stopped)
cli-verify-not-recorded = the restore drill was NOT recorded: { $error }
cli-verify-failed = { $file } FAILED the restore drill: { $n } problem(s) found
cli-verify-no-config = no node config at { $path } (give the node's with -c)
cli-verify-bad-operator = { $operator } cannot name the operator (use --operator)
cli-verify-neither = neither through the daemon ({ $error }) nor in the store
cli-his-pulling = pulling
cli-his-col-table = table
cli-his-col-rows = rows
cli-his-col-created = created
cli-his-col-updated = updated
cli-his-col-unchanged = unchanged
cli-his-col-skipped = skipped
cli-his-col-ignored = ignored
cli-his-col-when = when
cli-his-up = UP
cli-his-down = DOWN
cli-his-unknown = not reached yet
cli-his-head = HIS { $url }: { $state } since { $since }{ $rtt }
cli-his-rtt = , answers in { $ms } ms
cli-his-last-error = last error: { $error }
cli-his-active = this node pulls and pushes
cli-his-watching = this node only watches the HIS (the standby pulls and pushes while central is away)
cli-his-activity-pull = pull
cli-his-activity-push = push
cli-his-now = now: { $activity } of { $table }: { $rows } rows
cli-his-pulled = pulled (HIS -> Lifeline)
cli-his-pushed = pushed (Lifeline -> HIS interface tables)
cli-his-last-pull-stopped = the last pull stopped: { $error }
cli-his-last-push-stopped = the last push stopped: { $error }
cli-his-pull-stopped = the pull stopped: { $error }
cli-his-waiting = waiting for the HIS to import: { $n } rows
cli-his-refused = refused by the HIS: { $n } rows
cli-his-refused-line = { $table } { $ext } revision { $revision } (record { $record }): { $reason }
cli-his-unwritable = cannot be pushed: record { $record }: { $why }
cli-his-push-summary = waiting for the HIS to import: { $waiting } rows; refused: { $refused } rows
cli-his-up-to = {"  "}(up to { $cursor })
cli-his-rounded = { $n } amounts rounded to the fen
cli-his-rebuilt = { $rebuilt } records rebuilt, { $reused } reused (unchanged since the last push)
cli-his-skipped = skipped { $id }: { $reason }
cli-his-ok = ok
cli-his-wrong = WRONG
cli-his-fits = the mapping fits the HIS
cli-his-misfits = the mapping does not fit the HIS
cli-his-check-failed = the mapping does not fit the HIS: { $n } problem(s)

## The config file (`config.rs`, `[his]` in `his/settings.rs`): what is wrong with it.

cli-config-unreadable = cannot read the config file { $path }
cli-config-unparsable = { $path } is not a valid config file
cli-config-unusable = { $path } is not a usable config
cli-config-calendar-unreadable = hospital.calendar: cannot read { $path }
cli-config-calendar-invalid = hospital.calendar is not a valid calendar
cli-config-api-not-loopback = api.listen { $address } is not a loopback address: the desks' API must not be reachable from the network
cli-config-heartbeat = thresholds.heartbeat must be above zero and shorter than thresholds.peer_timeout
cli-config-lease-size = thresholds.lease_size must be between 1 and { $max }
cli-config-peer-twice = peers lists a node twice
cli-config-peer-itself = peers lists this node itself ({ $node })
cli-config-no-desks = node.desks is empty: a window needs at least one desk role
cli-config-window-days = retention.window_days is { $days }: a window keeps between 1 and 3650 days of records
cli-config-replication-nice = network.replication_nice is { $nice }: replication runs between 0 and 19 nice steps below the desks
cli-config-metrics-address = metrics.listen { $address } is the desks' API address: give the metrics their own
cli-config-log-level = log.level { $level } is not a tracing filter
cli-config-his-on-window = [his] is for central and the standby: a window does not talk to the HIS
cli-config-his-url = his.url is not a PostgreSQL connection URL
cli-config-his-password = his.url carries a password: put it in the file his.password_file names
cli-config-his-zero = { $name } must be above zero
cli-config-his-health-interval = his.health_interval must not be longer than his.poll_interval

## The daemon's start-up checks (`daemon/mod.rs`).

cli-daemon-certificate = the node's certificate cannot be used
cli-daemon-cert-name = the certificate { $cert } names node { $named }, but the config says { $config }
cli-daemon-cert-role = the certificate { $cert } is for a { $named }, but the config says this node is a { $config }
cli-daemon-cert-desk = node.desks lists { $desk }, but the certificate { $cert } does not (its desks: { $desks }); issue a certificate with that desk or remove it from the config
cli-daemon-data-dir = cannot create the data directory { $path }
cli-daemon-key = the node's key cannot sign its changes
cli-daemon-mesh = cannot join the mesh
cli-daemon-listen = cannot listen on { $field } { $address }
cli-daemon-his = [his] cannot be used
cli-daemon-runtime = cannot start the async runtime
cli-daemon-subscriber = cannot install the log subscriber

## `lifeline --help` (`help.rs`): the help's frame and each command's one line.

help-usage = Usage:{" "}
help-commands = Commands
help-command = COMMAND
help-options = Options
help-arguments = Arguments
help-flag-help = Print help
help-flag-version = Print version
help-arg-config = The node's config file (the daemon's)
help-arg-json = As JSON (the same in every language)
help-arg-lang = The language of what is printed for people: zh (Simplified Chinese, the default) or en; without it, LIFELINE_LANG
help-cmd = Keeps a hospital's outpatient windows working when the central system fails
help-cmd-help = Print this message or the help of the given subcommand(s)
help-cmd-daemon = Run a node: store, mesh replication and the desks' API (headless)
help-cmd-status = Show the node, its mode and episode, its peers, backlogs, ranges and store size
help-cmd-ca = The hospital CA: create it, issue node certificates
help-cmd-ca-init = Create the hospital CA (ca.pem, and ca.key with mode 0600) in a directory
help-cmd-ca-issue = Issue a node certificate (<name>.pem, <name>.key with mode 0600) signed by the CA
help-cmd-ca-revoke = Revoke a node's certificate (a stolen window PC): writes <name>.revoked.json, signed by the CA
help-cmd-operator = Desk operators and their API tokens
help-cmd-operator-add = Add an operator (or give an existing one a new token); prints the token once
help-cmd-operator-remove = Remove an operator: their token stops working at once
help-cmd-operator-list = List the operators (never their tokens)
help-cmd-operator-rotate-admin-token = Give the CLI's admin operator a new token (the old one stops working)
help-cmd-emergency = Declare, estimate or end an emergency episode by hand; run a drill
help-cmd-emergency-start = Put the hospital in emergency mode from this node (joins an open episode if any)
help-cmd-emergency-stop = End the current episode (or drill) for the whole hospital
help-cmd-emergency-estimate = Record the recovery time expected (the plan's 30-minute assessment) and the cause
help-cmd-catalog = Reference data (central only)
help-cmd-catalog-import = Import drugs.csv, services.csv and departments.csv (any of them) into the catalogs
help-cmd-ranges = Number ranges: lease (central/standby), show the range report
help-cmd-ranges-lease = On central or the standby: lease numbers to a window
help-cmd-ranges-report = Per range: issued, voided, unused; gaps and duplicates (there must be none)
help-cmd-reconcile = Follow reconciliation after an outage until this node is done, with progress
help-cmd-demo = Run a whole local hospital with an outage, on loopback
help-cmd-backup = Write a consistent snapshot of the node's store while the daemon runs (or is stopped)
help-cmd-restore = Bring the node's store back from a backup (the daemon must be stopped)
help-cmd-compact = Rewrite the node's store in key order to give back unused space (the daemon must be stopped; records, incarnation and peers' positions unchanged)
help-cmd-verify = The restore drill: restore a backup in a scratch directory and check everything
help-cmd-conflicts = The conflict review report (text, JSON or one self-contained HTML file)
help-cmd-resolve = Record a reviewer's decision on a conflict (replicated and audited)
help-cmd-merge-patients = Merge a duplicate patient record into the one to keep (replicated and audited)
help-cmd-episode = Emergency episodes: list them; the outage report
help-cmd-episode-list = Every episode this node knows, newest first
help-cmd-episode-report = The outage report of one episode
help-cmd-quarantine = Records refused from peers, kept for inspection
help-cmd-quarantine-list = The refused records, oldest first
help-cmd-quarantine-show = One refused record, with the reason and the changes as they came (hex)
help-cmd-revoke = Hand a CA-signed revocation (from lifeline ca revoke) to a running node
help-cmd-report = Daily reports: the cashier summary by payment channel
help-cmd-report-cashier = The cashier summary of one day, by operator and payment channel
help-cmd-export = Export an emergency episode (FHIR R4, Bulk Data NDJSON)
help-cmd-export-fhir = Patient, Encounter, MedicationRequest, ChargeItem, Invoice and Provenance resources of one episode
help-cmd-his = The HIS bridge (central, standby): status, pull, push, check the mapping
help-cmd-his-status = Last pull and push per table, with counts and lag; what is waiting; what the HIS refused
help-cmd-his-pull = Pull from the HIS now, with progress, and show what came in
help-cmd-his-push = Push the episodes' records into the HIS's interface tables now
help-cmd-his-check = Check the mapping against the live HIS: every configured column exists, of a fitting type

## The language itself.

cli-unknown-lang = { $value } is not a language Lifeline speaks (zh or en)
cli-parse-refused = the command line is wrong: { $what }
cli-parse-see-help = See lifeline --help (the command-line parser's own words follow).
cli-parse-unknown-arg = unknown argument { $arg }
cli-parse-unknown-command = no such command: { $command }
cli-parse-bad-value = { $arg } cannot be { $value }
cli-parse-missing = the required argument { $arg } is missing
cli-parse-other = the arguments are not as required

## `--help`: each command's own arguments (`help-arg-<command path>-<argument>`).

help-arg-status-watch = Refresh every 2 seconds until interrupted
help-arg-ca-init-dir = The directory to hold the CA
help-arg-ca-issue-dir = The CA's directory (the certificate is written there)
help-arg-ca-issue-name = The node name (W01, central, ...)
help-arg-ca-issue-role = The node role: central, standby or window
help-arg-ca-issue-desks = Desk roles at this node, comma-separated (registration, cashier, pharmacy, triage, doctor, admin)
help-arg-ca-issue-days = Validity in days (1 or more)
help-arg-ca-revoke-dir = The CA's directory
help-arg-ca-revoke-name = The node whose certificate is revoked
help-arg-ca-revoke-reason = Why, for the audit trail and every node's log
help-arg-ca-revoke-config = Also hand the revocation to this running node (usually central's config)
help-arg-operator-add-name = The operator name (zhang.li, ...)
help-arg-operator-add-desk = The desk: registration, cashier, pharmacy, triage, doctor or admin
help-arg-operator-add-expires = The token stops working after this long (`8h`, `30d`); never when absent
help-arg-operator-add-token_only = Print only the token (for scripts)
help-arg-operator-add-password_stdin = Read the console password from the first line of standard input (asked for when it is a terminal); without it, a one-time setup code is printed instead
help-arg-operator-remove-name = The operator to remove
help-arg-emergency-start-reason = Why the emergency is declared (kept in the episode)
help-arg-emergency-start-drill = A drill: the whole procedure, on records marked as a drill, reported apart and kept out of real statistics and of the HIS
help-arg-emergency-estimate-hours = Hours until the system is expected back
help-arg-emergency-estimate-cause = The cause of the fault, once found
help-arg-catalog-import-drugs = The drug catalog, drugs.csv
help-arg-catalog-import-services = The service catalog, services.csv
help-arg-catalog-import-departments = The departments, departments.csv
help-arg-ranges-lease-series = The series: invoice or emergency_registration
help-arg-ranges-lease-holder = The window that will hold the range
help-arg-ranges-lease-size = How many numbers the range holds
help-arg-ranges-lease-operator = Invoices: the cashier the range is preset for
help-arg-ranges-lease-code = Invoices: the invoice code of the paper or e-invoice stock
help-arg-ranges-lease-start = The first number, when a paper stock dictates it (default: the next free one)
help-arg-reconcile-timeout = Give up after this long (e.g. 90s, 10m)
help-arg-demo-keep = Keep the hospital's directory (certificates, configs, stores, logs) here instead of a temporary one that is removed at the end
help-arg-demo-reports = Also write the reports (text, JSON, HTML) into this directory
help-arg-demo-patients = Patients registered in each phase, at least 2 (default 12)
help-arg-demo-stay = After the morning, keep the hospital running until Ctrl-C, so its desk consoles can be used in a browser; pressing Enter takes central down or brings it back
help-arg-demo-without_his = Run without the HIS even when PostgreSQL is installed
help-arg-backup-out = The backup file to write (it must not exist); `FILE.sha256` is written beside it
help-arg-restore-from = The backup file to restore the node's store from
help-arg-restore-allow_other_node = Restore a backup taken on another node (e.g. to rebuild a window from a neighbour's)
help-arg-verify-file = The backup file to check (it is only read)
help-arg-verify-scratch = Where to restore it for the check (a directory made inside it is removed afterwards). Default: the system's temporary directory
help-arg-verify-operator = Who ran the drill (default: the login name)
help-arg-verify-config = The node whose restore drill this is: the drill (date, file, result, operator) is recorded there, through its daemon or straight in its store when it is stopped
help-arg-conflicts-format = text (a terminal), json (the report document) or html (one self-contained file)
help-arg-conflicts-out = Write the report to this file instead of standard output
help-arg-resolve-conflict = The conflict id, as `lifeline conflicts` shows it
help-arg-resolve-choose = Field conflicts: keep the value with this number
help-arg-resolve-confirm = Confirm what the rules kept (double dispense, settlement or invoice; on a field conflict, the value shown now), after checking
help-arg-resolve-keep_separate = Duplicate patients: they are different people; keep both records
help-arg-resolve-operator = The reviewer deciding, by their own operator name (`lifeline operator add --desk admin`); decisions are recorded under it
help-arg-resolve-token_file = A file holding the reviewer's token; without it, the `LIFELINE_TOKEN` environment variable
help-arg-merge-patients-survivor = The patient record to keep
help-arg-merge-patients-duplicate = The patient record merged into it (kept, with a pointer to the survivor)
help-arg-merge-patients-operator = The reviewer deciding, by their own operator name (`lifeline operator add --desk admin`); decisions are recorded under it
help-arg-merge-patients-token_file = A file holding the reviewer's token; without it, the `LIFELINE_TOKEN` environment variable
help-arg-episode-report-id = The episode: an id (YJ-...), `current` (the one this node is in) or `latest`
help-arg-episode-report-format = text (a terminal), json (the report document) or html (one self-contained file)
help-arg-episode-report-out = Write the report to this file instead of standard output
help-arg-quarantine-show-seq = Its number, as `list` shows it
help-arg-revoke-file = The revocation, as `lifeline ca revoke` wrote it
help-arg-report-cashier-date = The day (hospital time), YYYY-MM-DD
help-arg-report-cashier-allow_incomplete = Run it even in emergency mode; the report is then marked incomplete
help-arg-export-fhir-episode = The episode's id (YJ-...)
help-arg-export-fhir-out = The directory to write the files into (created if missing)
help-default = {" "}[default: { $value }]
help-choices = {" "}[possible values: { $values }]
