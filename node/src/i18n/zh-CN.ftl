# Lifeline desk console: Simplified Chinese (the default). Every key here is in en.ftl too
# (checked by the test `every_key_exists_in_both_languages_and_parses`).

app-name = 生命线应急系统
back-to-desk = 返回工作台
logout = 退出登录
print = 打印
refused-title = 无法完成
emergency-mark = 应急

## Desks
desk-registration = 挂号
desk-triage = 分诊
desk-doctor = 医生
desk-cashier = 收费
desk-pharmacy = 药房
desk-admin = 信息科

## Banner
banner-normal = 正常运行
banner-unknown = 正在读取系统状态…
banner-episode = 应急状态 YJ · 事件 { $id } · 自 { $since } 起 · 预计等级 { $grade }
banner-degraded = 中心服务器自 { $since } 起失联，尚未进入应急状态
banner-primary = 主节点：{ $primary }
banner-no-primary = 无
banner-isolated = 本窗口已与网络隔离：数据保存在本机，恢复后自动同步
banner-arriving = 本窗口的工作数据仍在从 { $from } 同步（{ $percent }%），部分病历可能暂缺

## Log-in
login-title = 登录
login-name = 操作员名
login-password = 密码（首次登录请输入一次性设置码）
login-hint = 连续 5 次输错将锁定 15 分钟。
login-submit = 登录
login-failed = 操作员名或密码不正确。
login-locked = 该操作员已因多次输错被锁定，请于 { $until } 后再试，或联系信息科。
login-expired-form = 登录页面已过期，请重新输入。
password-title = 设置密码
password-explain = 您使用一次性设置码登录，请设置自己的密码（至少 8 个字符）。
password-new = 新密码
password-again = 再次输入新密码
password-submit = 保存密码
password-mismatch = 两次输入的密码不一致。
password-too-short = 密码至少 8 个字符，最多 128 个字符。

## Errors shown to staff (by the API's error code)
error-field = （字段：{ $field }）
error-forbidden = 本岗位无权进行此操作。
error-not_found = 未找到该记录。
error-invalid = 输入有误，请检查后重试。
error-refused = 按规则不能进行此操作。
error-storage = 本机存储读取失败，请联系信息科。
error-not_saved = 未能保存，请重试；如仍失败请改用纸质流程并联系信息科。
error-internal = 系统内部错误，请联系信息科。
error-catalog_missing = 药品和收费目录尚未同步到本机。
error-csrf = 表单已过期，请刷新页面后重试。
error-other = 操作未完成。

## Statuses
status-registered = 已挂号
status-paused = 暂缓
status-queued = 候诊
status-called = 已叫号
status-cancelled = 已取消
status-seen = 已就诊
status-issued = 已开具
status-printed = 已打印
status-dispensed = 已发药
status-pending = 待收费
status-settled = 已收费
status-invoiced = 已开票
status-refunded = 已退费
status-resettled = 已重新结算

## Patients
sex-male = 男
sex-female = 女
sex-unknown = 未知
insurance-self-pay = 自费
insurance-employee = 职工医保
insurance-resident = 居民医保

## Registration
reg-title = 挂号
reg-number = 就诊卡号
reg-national-id = 身份证号
reg-name = 姓名
reg-guardian-phone = 监护人电话
reg-birth-date = 出生日期
reg-search = 查找
reg-search-hint = 填写任一项后按回车：卡号、身份证号、姓名（可加出生日期），或监护人电话加出生日期。
reg-no-match = 未找到匹配的患者，可新建患者。
reg-more = 匹配过多，仅显示前 50 名，请缩小查找范围。
reg-matches = 匹配的患者
reg-pick = 选择
reg-patient = 患者
reg-sex = 性别
reg-phone = 电话
reg-insurance = 医保类型
reg-guardian = 监护人
reg-guardian-name = 监护人姓名
reg-guardian-relationship = 与患者关系
reg-guardian-national-id = 监护人身份证号
reg-new-patient = 新建患者
reg-save-patient = 保存患者
reg-department = 科室
reg-expert = 专家号
reg-register = 挂号并打印挂号单

## Slip and prescription
slip-title = 挂号单
slip-number = 挂号号
slip-patient = 患者
slip-fee = 挂号费
slip-time = 时间
slip-operator = 操作员
slip-emergency-note = 应急期间挂号，系统恢复后自动补录，无需重新挂号。
rx-title = 处方笺
rx-doctor = 医师
rx-quantity = 数量
rx-dosage = 用法用量
rx-price = 单价
rx-total = 合计
rx-signature = 医师签名：
rx-emergency-note = 应急处方：可打印，待中心确认后方可在系统中发药。

## Triage, doctor, pharmacy
triage-title = 分诊台
triage-held = 应急挂号，待恢复
triage-call = 叫号
triage-restore = 恢复排队
queue-empty = 当前无人排队。
queue-status = 状态
doctor-title = 医生工作站
doctor-open = 接诊
doctor-no-history = 应急期间无法查看既往病历，请询问患者或家属。
doctor-history-arriving = 本窗口的病历仍在同步，既往病历可能不完整，请询问患者或家属。
doctor-drug-hint = 输入药品编码、名称或拼音首字母（如 amxl），从列表中选择。
doctor-item = 药品
doctor-drug = 药品
doctor-prescribe = 开具处方并打印
pharmacy-title = 药房
pharmacy-on-hold = 待中心确认
pharmacy-print = 打印处方
pharmacy-dispense = 发药

## Cashier
cashier-title = 收费
cashier-no-range = 本机尚无发票号段，请联系信息科。
cashier-next-invoice = 下一张发票：代码 { $code }，号码 { $number }（本段剩余 { $remaining } 张）
cashier-confirm-shift = 开始本班前请核对手中发票：系统下一号码为 { $number }。
cashier-stock-code = 发票代码
cashier-first-number = 手中第一张发票号码
cashier-start-shift = 确认并开始本班
cashier-amount = 金额
cashier-requested = 支付方式
cashier-channel = 收款方式
cashier-insurance-failed = 医保结算失败，按自费收取
cashier-settle = 收费并打印收据
cashier-receipt = 收据
cashier-invoice = 开具发票
cashier-invoices = 发票
cashier-voided = 已作废
cashier-void-reason = 作废原因
cashier-void = 作废
cashier-method-insurance = 医保
channel-cash = 现金
channel-bank_card = 银行卡
channel-wechat = 微信支付
channel-alipay = 支付宝
channel-insurance_fund = 医保统筹
channel-personal_account = 医保个人账户
receipt-title = 收费收据
receipt-due-after-episode = 系统恢复之日起 7 个工作日内
resettle-title = 医保重新结算通知
resettle-text = 本次因医保结算失败按自费收取。请于 { $due } 前携带本收据到收费窗口办理医保重新结算，差额将退还。
invoice-title = 医疗收费票据
invoice-code = 票据代码
invoice-number = 票据号码

## Information department
info-title = 信息科
info-peers = 节点连接
info-connected = 已连接
info-disconnected = 未连接
info-status = 状态
info-records = 记录数
info-unreconciled = 待中心确认的应急记录
info-open-conflicts = 待处理冲突
info-worklist = 恢复工作清单
info-conflicts = 冲突
info-none = 无。
info-confirm = 确认
info-keep-separate = 不是同一人，保留两条
info-choose = 采用：
info-merge = 合并为同一患者
info-episodes = 应急事件
info-open = 进行中
info-grade = 等级
info-ranges = 号段
info-next = 下一号
info-remaining = 剩余
work-dispense_emergency_prescription = 应急处方待系统发药
work-restore_paused_visit = 暂缓的应急挂号待恢复排队
work-resettle_insurance = 医保待重新结算
work-merge_duplicate_patient = 重复患者待合并
work-review_conflict = 冲突待审核
cashier-voided-number = 发票 { $number } 已作废；该费用可重新开票。
