"""UI texts of signing in, the accounts page and the audit log, in Vietnamese and English."""

from __future__ import annotations

VI: dict[str, str] = {
    "nav.login": "Đăng nhập",
    "nav.users": "Tài khoản",
    "nav.audit": "Nhật ký thao tác",
    # signing in
    "auth.title": "Đăng nhập",
    "auth.intro": (
        "Hệ thống thông tin GIS phường {ward}. Đăng nhập bằng tài khoản do quản trị viên cấp."
    ),
    "auth.username": "Tên đăng nhập",
    "auth.password": "Mật khẩu",
    "auth.submit": "Đăng nhập",
    "auth.wrong": "Sai tên đăng nhập hoặc mật khẩu.",
    "auth.locked": (
        "Tài khoản tạm khóa đến {until} vì đăng nhập sai nhiều lần. Hãy thử lại sau, hoặc nhờ "
        "quản trị viên mở khóa."
    ),
    "auth.disabled": "Tài khoản này đã bị vô hiệu hóa. Hãy liên hệ quản trị viên.",
    "auth.ended.expired": "Phiên đăng nhập đã hết hạn. Hãy đăng nhập lại.",
    "auth.ended.idle": "Phiên đăng nhập đã kết thúc vì lâu không thao tác. Hãy đăng nhập lại.",
    "auth.ended.disabled": "Tài khoản của bạn đã bị vô hiệu hóa hoặc bị xóa.",
    "auth.ended.unknown": "Phiên đăng nhập không còn hiệu lực. Hãy đăng nhập lại.",
    "auth.no_accounts": (
        "Chưa có tài khoản nào. Chạy `bash scripts/run` (hoặc "
        "`.venv/bin/python -m geo users bootstrap`) để tạo tài khoản quản trị đầu tiên; mật "
        "khẩu được in ra một lần và lưu trong `var/initial-admin-password`."
    ),
    "auth.guest": "Bạn đang xem với tư cách khách (chỉ xem).",
    "auth.sign_in_link": "Đăng nhập để chỉnh sửa",
    "auth.signed_in": "Đăng nhập: **{name}** (`{username}`)",
    "auth.sign_out": "Đăng xuất",
    "auth.signed_out": "Bạn đã đăng xuất.",
    "auth.admin_only": "Trang này chỉ dành cho quản trị viên.",
    # accounts page
    "us.title": "Tài khoản người dùng",
    "us.intro": (
        "Vai trò: **xem** (chỉ xem), **biên tập** (báo ngập, sửa hồ sơ thửa), **phê duyệt** "
        "(vượt quy tắc giai đoạn, xác nhận báo ngập), **quản trị** (tài khoản, lớp dữ liệu, "
        "nhập và xóa dữ liệu). Mọi thay đổi được ghi vào nhật ký thao tác."
    ),
    "us.col.username": "Tên đăng nhập",
    "us.col.name": "Họ tên",
    "us.col.role": "Vai trò",
    "us.col.status": "Trạng thái",
    "us.col.failed": "Lần sai liên tiếp",
    "us.col.last_login": "Đăng nhập gần nhất",
    "us.col.created": "Tạo lúc",
    "us.status.active": "đang dùng",
    "us.status.disabled": "vô hiệu hóa",
    "us.status.locked": "tạm khóa",
    "us.add": "Thêm tài khoản",
    "us.f.username": "Tên đăng nhập (a-z, 0-9, . _ -)",
    "us.f.name": "Họ tên hiển thị",
    "us.f.role": "Vai trò",
    "us.f.password": "Mật khẩu",
    "us.f.password2": "Nhập lại mật khẩu",
    "us.f.rules": "Ít nhất 10 ký tự, không trùng tên đăng nhập.",
    "us.f.add": "Tạo tài khoản",
    "us.added": "Đã tạo tài khoản {username}.",
    "us.mismatch": "Hai lần nhập mật khẩu không khớp.",
    "us.pick": "Chọn tài khoản để quản lý",
    "us.manage": "Tài khoản {username}",
    "us.role_save": "Đổi vai trò",
    "us.role_saved": "Đã đổi vai trò của {username}.",
    "us.reset": "Đặt lại mật khẩu",
    "us.reset_done": (
        "Đã đặt mật khẩu mới cho {username}; mọi phiên đăng nhập của tài khoản đã kết thúc."
    ),
    "us.disable": "Vô hiệu hóa",
    "us.enable": "Kích hoạt lại",
    "us.disabled_done": "Đã vô hiệu hóa {username}; tài khoản bị đăng xuất ngay.",
    "us.enabled_done": "Đã kích hoạt lại {username}.",
    "us.unlock": "Mở khóa",
    "us.unlocked": "Đã mở khóa {username}.",
    "us.remove": "Xóa tài khoản",
    "us.remove_sure": "Tôi chắc chắn muốn xóa {username} (nhật ký thao tác vẫn được giữ)",
    "us.removed": "Đã xóa tài khoản {username}.",
    # audit page
    "au.title": "Nhật ký thao tác",
    "au.intro": (
        "Mọi thao tác ghi dữ liệu (ai, lúc nào, làm gì, trước và sau), đăng nhập và quản lý "
        "tài khoản. Nhật ký chỉ được ghi thêm: không ai sửa hay xóa được, kể cả quản trị viên."
    ),
    "au.actor": "Người thao tác",
    "au.action": "Loại thao tác",
    "au.layer": "Lớp dữ liệu",
    "au.all": "Tất cả",
    "au.since": "Từ ngày",
    "au.until": "Đến ngày",
    "au.page": "Trang",
    "au.count": "{n} dòng trên trang {page} (mới nhất trước).",
    "au.none": "Không có dòng nào khớp bộ lọc.",
    "au.col.id": "Số",
    "au.col.at": "Thời điểm",
    "au.col.actor": "Người thao tác",
    "au.col.role": "Vai trò",
    "au.col.action": "Thao tác",
    "au.col.layer": "Lớp",
    "au.col.fid": "Mã đối tượng",
    "au.pick": "Xem chi tiết dòng số",
    "au.before": "Trước",
    "au.after": "Sau",
    "au.detail": "Chi tiết",
    "au.nothing": "(không có)",
    "au.download": "Tải CSV",
    # data page: admins only
    "data.admin_only": "Chỉ quản trị viên được nhập hoặc xóa lớp dữ liệu.",
    "data.remove": "Xóa lớp",
    "data.remove_layer": "Lớp cần xóa",
    "data.remove_sure": "Tôi chắc chắn muốn xóa lớp {layer} ({count} đối tượng)",
    "data.remove_button": "Xóa lớp",
    "data.removed": "Đã xóa lớp {layer} ({count} đối tượng). Lịch sử và nhật ký vẫn được giữ.",
}

EN: dict[str, str] = {
    "nav.login": "Sign in",
    "nav.users": "Accounts",
    "nav.audit": "Audit log",
    "auth.title": "Sign in",
    "auth.intro": "{ward} ward GIS. Sign in with the account your administrator gave you.",
    "auth.username": "Username",
    "auth.password": "Password",
    "auth.submit": "Sign in",
    "auth.wrong": "Wrong username or password.",
    "auth.locked": (
        "This account is locked until {until} after repeated failed sign-ins. Try again later, "
        "or ask an administrator to unlock it."
    ),
    "auth.disabled": "This account is disabled. Please contact an administrator.",
    "auth.ended.expired": "Your session has expired. Please sign in again.",
    "auth.ended.idle": "Your session ended after a while without activity. Please sign in again.",
    "auth.ended.disabled": "Your account has been disabled or removed.",
    "auth.ended.unknown": "Your session is no longer valid. Please sign in again.",
    "auth.no_accounts": (
        "There is no account yet. Run `bash scripts/run` (or "
        "`.venv/bin/python -m geo users bootstrap`) to create the first administrator; the "
        "password is printed once and kept in `var/initial-admin-password`."
    ),
    "auth.guest": "You are browsing as a guest (read only).",
    "auth.sign_in_link": "Sign in to edit",
    "auth.signed_in": "Signed in: **{name}** (`{username}`)",
    "auth.sign_out": "Sign out",
    "auth.signed_out": "You have signed out.",
    "auth.admin_only": "This page is for administrators only.",
    "us.title": "User accounts",
    "us.intro": (
        "Roles: **viewer** (reads), **editor** (marks floods, edits parcels), **approver** "
        "(overrides stage rules, confirms reports), **admin** (accounts, layers, data import "
        "and removal). Every change is written to the audit log."
    ),
    "us.col.username": "Username",
    "us.col.name": "Name",
    "us.col.role": "Role",
    "us.col.status": "Status",
    "us.col.failed": "Failed sign-ins in a row",
    "us.col.last_login": "Last sign-in",
    "us.col.created": "Created",
    "us.status.active": "active",
    "us.status.disabled": "disabled",
    "us.status.locked": "locked",
    "us.add": "Add an account",
    "us.f.username": "Username (a-z, 0-9, . _ -)",
    "us.f.name": "Display name",
    "us.f.role": "Role",
    "us.f.password": "Password",
    "us.f.password2": "Password again",
    "us.f.rules": "At least 10 characters, not the username.",
    "us.f.add": "Create the account",
    "us.added": "Account {username} created.",
    "us.mismatch": "The two passwords differ.",
    "us.pick": "Account to manage",
    "us.manage": "Account {username}",
    "us.role_save": "Change the role",
    "us.role_saved": "{username}'s role changed.",
    "us.reset": "Reset the password",
    "us.reset_done": "New password set for {username}; all of the account's sessions ended.",
    "us.disable": "Disable",
    "us.enable": "Enable again",
    "us.disabled_done": "{username} disabled and signed out at once.",
    "us.enabled_done": "{username} enabled again.",
    "us.unlock": "Unlock",
    "us.unlocked": "{username} unlocked.",
    "us.remove": "Remove the account",
    "us.remove_sure": "I am sure I want to remove {username} (the audit log keeps its rows)",
    "us.removed": "Account {username} removed.",
    "au.title": "Audit log",
    "au.intro": (
        "Every write (who, when, what, before and after), every sign-in and every account "
        "change. The log can only grow: nobody can change or delete a row, admins included."
    ),
    "au.actor": "Who",
    "au.action": "Action",
    "au.layer": "Layer",
    "au.all": "All",
    "au.since": "From",
    "au.until": "To",
    "au.page": "Page",
    "au.count": "{n} rows on page {page} (newest first).",
    "au.none": "No row matches the filters.",
    "au.col.id": "No.",
    "au.col.at": "When",
    "au.col.actor": "Who",
    "au.col.role": "Role",
    "au.col.action": "Action",
    "au.col.layer": "Layer",
    "au.col.fid": "Feature",
    "au.pick": "Show the details of row no.",
    "au.before": "Before",
    "au.after": "After",
    "au.detail": "Details",
    "au.nothing": "(nothing)",
    "au.download": "Download CSV",
    "data.admin_only": "Only administrators import or remove layers.",
    "data.remove": "Remove a layer",
    "data.remove_layer": "Layer to remove",
    "data.remove_sure": "I am sure I want to remove {layer} ({count} features)",
    "data.remove_button": "Remove the layer",
    "data.removed": "Layer {layer} removed ({count} features). Its history and audit rows stay.",
}
