"""UI texts of the flooding and route pages, in Vietnamese and English."""

from __future__ import annotations

VI: dict[str, str] = {
    "nav.floods": "Ngập đường",
    "nav.route": "Tuyến tránh ngập",
    "fl.title": "Ngập đường",
    "fl.intro": (
        "Đoạn đường đang ngập tô màu theo độ sâu (thang PetaBencana); nét đứt đen là đoạn cấm "
        "đường; dải tím là tuyến hay ngập. Bấm gần một con đường để báo ngập: điểm bấm được "
        "gắn vào đoạn đường gần nhất (cả hai chiều)."
    ),
    "fl.big_network": (
        "Mạng lưới lớn: vẽ {drawn} trong {total} đoạn đường trong khung nhìn (đường chính "
        "trước) — phóng to để thấy đường nhỏ."
    ),
    "fl.no_streets": (
        "Chưa có mạng lưới đường. Nhập tệp OpenStreetMap (.osm hoặc .osm.pbf) của phường, "
        "hoặc tải từ OpenStreetMap khi máy có mạng. Sau đó ứng dụng dùng được khi không có mạng."
    ),
    "fl.past": "Đang xem tình trạng lúc {when}. Chọn «Bây giờ» để báo ngập.",
    "fl.when": "Thời điểm",
    "fl.when.now": "Bây giờ",
    "fl.when.past": "Một thời điểm trước",
    "fl.when.day": "Ngày",
    "fl.when.time": "Giờ",
    "fl.m.segments": "Đoạn đang ngập",
    "fl.m.streets": "Tuyến đường",
    "fl.m.closed": "Đoạn cấm đường",
    "fl.m.deepest": "Sâu nhất",
    "fl.m.length": "Chiều dài ngập",
    "fl.mark_mode": "Cách đánh dấu",
    "fl.mark_mode.point": "Một điểm (đoạn gần nhất)",
    "fl.mark_mode.stretch": "Hai điểm (cả đoạn giữa)",
    "fl.tab.mark": "Báo ngập",
    "fl.tab.reports": "Báo cáo",
    "fl.tab.history": "Lịch sử",
    "fl.tab.prone": "Hay ngập",
    "fl.tab.feed": "IOC",
    "fl.mark.hint": "Bấm lên bản đồ gần con đường bị ngập để bắt đầu.",
    "fl.mark.second": "Đã chọn điểm đầu. Bấm điểm cuối của đoạn ngập trên cùng tuyến đường.",
    "fl.mark.miss": "Không gắn được vào đường: {error}",
    "fl.mark.past": "Đang xem thời điểm trước: chuyển về «Bây giờ» để báo ngập.",
    "fl.mark.at": "Báo ngập tại **{street}** ({n} đoạn, tính cả hai chiều).",
    "fl.mark.saved": "Đã ghi báo cáo ngập #{fid} trên {street}.",
    "fl.unnamed": "đường không tên",
    "fl.f.depth": "Độ sâu (cm)",
    "fl.f.unknown": "Chưa rõ độ sâu",
    "fl.f.source": "Nguồn tin",
    "fl.f.effect": "Ảnh hưởng",
    "fl.f.observed": "Thời điểm ghi nhận",
    "fl.f.has_end": "Có thời điểm dự kiến hết ngập (nếu không: hết hiệu lực sau {hours} giờ)",
    "fl.f.confirmed": "Đã xác minh",
    "fl.f.confirm_role": "Chỉ người duyệt hoặc quản trị được xác minh báo cáo.",
    "fl.f.note": "Ghi chú",
    "fl.f.save": "Ghi báo cáo ngập",
    "fl.effect.passable": "Đi được, cẩn thận",
    "fl.effect.closed": "Cấm đường",
    "fl.closed_label": "Cấm đường",
    "fl.source.field_officer": "Cán bộ hiện trường",
    "fl.source.camera": "Camera",
    "fl.source.resident_call": "Người dân báo",
    "fl.source.sensor": "Cảm biến",
    "fl.class.unknown": "Chưa rõ độ sâu",
    "fl.class.10-70": "10–70 cm",
    "fl.class.71-150": "71–150 cm",
    "fl.class.150+": "Trên 150 cm",
    "fl.status.live": "Đang ngập",
    "fl.status.ended": "Đã kết thúc",
    "fl.status.expired": "Hết hiệu lực",
    "fl.status.future": "Sau thời điểm này",
    "fl.reports.none": "Chưa có báo cáo ngập nào.",
    "fl.r.status": "Trạng thái",
    "fl.r.street": "Đường",
    "fl.r.depth": "Sâu (cm)",
    "fl.r.effect": "Ảnh hưởng",
    "fl.r.source": "Nguồn",
    "fl.r.observed": "Ghi nhận",
    "fl.r.ends": "Hết",
    "fl.r.confirmed": "Xác minh",
    "fl.r.pick": "Cập nhật một báo cáo đang ngập",
    "fl.r.pick_none": "— chọn báo cáo —",
    "fl.r.note": "Ghi chú: {note}",
    "fl.r.meta": "Người báo: {who} · phiên bản {version}",
    "fl.r.confirm": "Xác minh báo cáo",
    "fl.r.confirmed_ok": "Đã xác minh báo cáo #{fid}.",
    "fl.r.new_depth": "Mực nước mới (cm)",
    "fl.r.update": "Ghi mực nước mới",
    "fl.r.updated_ok": "Báo cáo #{fid} được thay bằng quan sát mới #{new}.",
    "fl.r.end_reason": "Lý do kết thúc",
    "fl.r.receded": "nước đã rút",
    "fl.r.end": "Kết thúc báo cáo",
    "fl.r.ended_ok": "Đã kết thúc báo cáo #{fid}.",
    "fl.reload": "Tải lại",
    "fl.history.none": "Chưa có tuyến nào có báo cáo hoặc được đánh dấu hay ngập.",
    "fl.history.street": "Tuyến đường",
    "fl.history.no_events": "Tuyến này chưa có báo cáo ngập.",
    "fl.history.time": "Thời gian",
    "fl.history.depth": "Độ sâu (cm)",
    "fl.history.class": "Mức ngập",
    "fl.history.caption": "{n} lần ngập; mỗi cột từ lúc ghi nhận đến khi hết (chưa rõ độ sâu: 0).",
    "fl.prone.programme": "Chương trình chống ngập của phường {ward}",
    "fl.prone.programme_name": "Chương trình chống ngập của phường",
    "fl.prone.designated": "đã đánh dấu hay ngập",
    "fl.prone.found": "có {n} đoạn trong mạng lưới, chưa đánh dấu",
    "fl.prone.missing": "chưa có trong mạng lưới đường đã nhập",
    "fl.prone.designate": "Đánh dấu hay ngập",
    "fl.prone.street": "Tuyến đường",
    "fl.prone.reason": "Lý do",
    "fl.prone.done": "Đã đánh dấu {street} là tuyến hay ngập.",
    "fl.prone.works": "công trình chống ngập",
    "fl.work.name": "Công trình",
    "fl.work.status": "Trạng thái",
    "fl.work.start": "Bắt đầu",
    "fl.work.end": "Kết thúc",
    "fl.work.note": "Ghi chú",
    "fl.work.planned": "kế hoạch",
    "fl.work.in_progress": "đang thi công",
    "fl.work.done": "hoàn thành",
    "fl.work.suspended": "tạm dừng",
    "fl.work.statuses": (
        "Trạng thái: planned = kế hoạch, in_progress = đang thi công, done = hoàn thành, "
        "suspended = tạm dừng."
    ),
    "fl.work.save": "Lưu công trình",
    "fl.work.saved": "Đã lưu công trình của {street}.",
    "fl.feed.intro": (
        "{n} đoạn đường ngập lúc {when} ({features} đoạn theo chiều xe chạy), cho Trung tâm "
        "điều hành (IOC)."
    ),
    "fl.feed.geojson": "Tải GeoJSON",
    "fl.feed.cap": "Tải cảnh báo CAP 1.2 (XML)",
    "fl.feed.cli": (
        "Dòng lệnh: python -m geo flood feed --format cap (hoặc geojson). Tệp CAP được kiểm "
        "theo lược đồ OASIS CAP 1.2 trước khi tải."
    ),
    "fl.streets.title": "Mạng lưới đường",
    "fl.streets.info": "{n} đoạn đường · nguồn: {source} · cập nhật {when}",
    "fl.streets.how": (
        "Tệp .osm hoặc .osm.pbf (ví dụ trích từ Geofabrik hoặc JOSM). Nhập lại sẽ thay mạng "
        "lưới cũ; báo cáo ngập giữ nguyên."
    ),
    "fl.streets.upload": "Tệp OpenStreetMap",
    "fl.streets.sample": "Dùng mạng lưới mẫu",
    "fl.streets.sample_help": (
        "Dữ liệu OpenStreetMap thật của trung tâm TP.HCM (quanh Nam Kỳ Khởi Nghĩa, Quận 3), "
        "để làm quen; không phải đường của phường."
    ),
    "fl.streets.sample_banner": (
        "MẠNG LƯỚI MẪU: đường phố trung tâm TP.HCM (Quận 3), không phải của phường. Dùng để "
        "làm quen; nhập mạng lưới đường của phường trong mục «Mạng lưới đường»."
    ),
    "fl.streets.import": "Nhập mạng lưới đường",
    "fl.streets.fetch": "Tải từ OpenStreetMap (cần mạng)",
    "fl.streets.reading": "Đang đọc tệp OpenStreetMap…",
    "fl.streets.fetching": "Đang tải đường phố của phường từ OpenStreetMap…",
    "fl.streets.done": "Đã lưu {n} đoạn đường.",
    "fl.streets.resnapped": "{n} báo cáo đang ngập được gắn lại vào mạng lưới mới.",
    "fl.off_network": (
        "{n} báo cáo đang ngập không còn nằm trên mạng lưới đường hiện tại (mạng lưới đã được "
        "nhập lại), nên không hiện trên bản đồ và không được tính khi tìm tuyến."
    ),
    "fl.resnap": "Gắn lại vào mạng lưới",
    "rt.at_ends": (
        "Điểm đi hoặc điểm đến nằm trên đoạn đang ngập quá mức hoặc cấm đường: không tuyến nào "
        "tránh được đoạn đó."
    ),
    "fl.r.unknown": "Chưa rõ độ sâu",
    "fl.e.viewer": "Vai trò của bạn chỉ được xem, không được thay đổi dữ liệu ngập.",
    "fl.e.too_big": "Tệp lớn hơn giới hạn {mb} MB.",
    "fl.e.osm": "Không đọc được tệp OpenStreetMap: {error}",
    "fl.e.offline": "Không tải được từ OpenStreetMap: {error}",
    "fl.e.input": "Dữ liệu chưa hợp lệ: {error}",
    "fl.e.conflict": (
        "Báo cáo này vừa được người khác thay đổi. Bấm «Tải lại» để xem bản mới nhất rồi làm lại."
    ),
    # route page
    "rt.title": "Tuyến tránh ngập",
    "rt.intro": (
        "Bấm hai điểm trên bản đồ (điểm đi rồi điểm đến) hoặc nhập tọa độ. Tuyến xanh tránh các "
        "đoạn cấm đường và đoạn ngập sâu hơn mức xe đi được; nét đứt xám là tuyến ngắn nhất "
        "nếu bỏ qua ngập."
    ),
    "rt.origin": "Điểm đi (vĩ độ, kinh độ)",
    "rt.destination": "Điểm đến (vĩ độ, kinh độ)",
    "rt.vehicle": "Phương tiện",
    "rt.vehicle.motorbike": "Xe máy",
    "rt.vehicle.car": "Ô tô",
    "rt.vehicle.truck": "Xe tải",
    "rt.max_depth": "Mức nước tối đa xe đi được (cm)",
    "rt.clear": "Chọn lại",
    "rt.click_origin": "Bấm lên bản đồ để chọn điểm đi.",
    "rt.click_destination": "Bấm lên bản đồ để chọn điểm đến.",
    "rt.bad_point": "Tọa độ chưa đúng: {error}",
    "rt.shortest": "Ngắn nhất (bỏ qua ngập)",
    "rt.safe": "Tránh ngập",
    "rt.detour": "Đi vòng thêm",
    "rt.clear_route": "Tuyến ngắn nhất không qua đoạn ngập nào vượt mức: đi bình thường.",
    "rt.blocked": "Tuyến ngắn nhất qua {n} đoạn ngập quá mức hoặc cấm đường; tuyến xanh đi vòng.",
    "rt.no_route": (
        "Không có tuyến nào tránh được ngập cho {vehicle} (tối đa {depth} cm). Tuyến ngắn nhất "
        "qua {n} đoạn ngập quá mức hoặc cấm đường: chờ nước rút hoặc dùng phương tiện khác."
    ),
    "rt.unreachable": "Hai điểm không nối với nhau trên mạng lưới đường: {error}",
    "rt.streets": "Đi qua: {streets}",
    "rt.floods_at": "Theo tình trạng ngập lúc {when}.",
}

EN: dict[str, str] = {
    "nav.floods": "Flooded roads",
    "nav.route": "Flood-safe route",
    "fl.title": "Flooded roads",
    "fl.intro": (
        "Flooded segments are coloured by depth (PetaBencana's classes); dashed black means "
        "closed; purple bands are flood-prone streets. Click near a street to report a flood: "
        "the click snaps to the nearest segment (both directions)."
    ),
    "fl.big_network": (
        "A large network: {drawn} of the {total} street segments in view are drawn (main "
        "roads first) — zoom in for the smaller streets."
    ),
    "fl.no_streets": (
        "No street network yet. Import the ward's OpenStreetMap file (.osm or .osm.pbf), or "
        "fetch it from OpenStreetMap when online. The app then works offline."
    ),
    "fl.past": "Showing the state at {when}. Choose “Now” to report floods.",
    "fl.when": "Moment",
    "fl.when.now": "Now",
    "fl.when.past": "A past moment",
    "fl.when.day": "Date",
    "fl.when.time": "Time",
    "fl.m.segments": "Flooded segments",
    "fl.m.streets": "Streets",
    "fl.m.closed": "Closed segments",
    "fl.m.deepest": "Deepest",
    "fl.m.length": "Flooded length",
    "fl.mark_mode": "How to mark",
    "fl.mark_mode.point": "One point (nearest segment)",
    "fl.mark_mode.stretch": "Two points (the stretch between)",
    "fl.tab.mark": "Report",
    "fl.tab.reports": "Reports",
    "fl.tab.history": "History",
    "fl.tab.prone": "Flood-prone",
    "fl.tab.feed": "IOC feed",
    "fl.mark.hint": "Click on the map near the flooded street to start.",
    "fl.mark.second": "Start chosen. Click the end of the flooded stretch on the same street.",
    "fl.mark.miss": "Could not snap to a street: {error}",
    "fl.mark.past": "You are viewing a past moment: switch to “Now” to report a flood.",
    "fl.mark.at": "Flood at **{street}** ({n} segments, both directions).",
    "fl.mark.saved": "Flood report #{fid} recorded on {street}.",
    "fl.unnamed": "unnamed street",
    "fl.f.depth": "Depth (cm)",
    "fl.f.unknown": "Depth unknown",
    "fl.f.source": "Source",
    "fl.f.effect": "Effect",
    "fl.f.observed": "Observed at",
    "fl.f.has_end": "Expected end known (otherwise it expires after {hours} hours)",
    "fl.f.confirmed": "Confirmed",
    "fl.f.confirm_role": "Only approvers and admins may confirm reports.",
    "fl.f.note": "Note",
    "fl.f.save": "Record the flood",
    "fl.effect.passable": "Passable with care",
    "fl.effect.closed": "Closed",
    "fl.closed_label": "Closed",
    "fl.source.field_officer": "Field officer",
    "fl.source.camera": "Camera",
    "fl.source.resident_call": "Resident's call",
    "fl.source.sensor": "Sensor",
    "fl.class.unknown": "Depth unknown",
    "fl.class.10-70": "10–70 cm",
    "fl.class.71-150": "71–150 cm",
    "fl.class.150+": "Over 150 cm",
    "fl.status.live": "Flooded",
    "fl.status.ended": "Ended",
    "fl.status.expired": "Expired",
    "fl.status.future": "After this moment",
    "fl.reports.none": "No flood reports yet.",
    "fl.r.status": "Status",
    "fl.r.street": "Street",
    "fl.r.depth": "Depth (cm)",
    "fl.r.effect": "Effect",
    "fl.r.source": "Source",
    "fl.r.observed": "Observed",
    "fl.r.ends": "Ends",
    "fl.r.confirmed": "Confirmed",
    "fl.r.pick": "Update a live report",
    "fl.r.pick_none": "— pick a report —",
    "fl.r.note": "Note: {note}",
    "fl.r.meta": "Reported by {who} · version {version}",
    "fl.r.confirm": "Confirm the report",
    "fl.r.confirmed_ok": "Report #{fid} confirmed.",
    "fl.r.new_depth": "New water level (cm)",
    "fl.r.update": "Record the new level",
    "fl.r.updated_ok": "Report #{fid} replaced by the new observation #{new}.",
    "fl.r.end_reason": "Why it ends",
    "fl.r.receded": "water receded",
    "fl.r.end": "End the report",
    "fl.r.ended_ok": "Report #{fid} ended.",
    "fl.reload": "Reload",
    "fl.history.none": "No street has reports or is designated flood-prone yet.",
    "fl.history.street": "Street",
    "fl.history.no_events": "This street has no flood reports yet.",
    "fl.history.time": "Time",
    "fl.history.depth": "Depth (cm)",
    "fl.history.class": "Flood class",
    "fl.history.caption": "{n} floods; each bar runs from observation to end (unknown depth: 0).",
    "fl.prone.programme": "{ward} ward's anti-flooding programme",
    "fl.prone.programme_name": "Ward anti-flooding programme",
    "fl.prone.designated": "designated flood-prone",
    "fl.prone.found": "{n} segments in the network, not designated",
    "fl.prone.missing": "not in the imported street network",
    "fl.prone.designate": "Designate flood-prone",
    "fl.prone.street": "Street",
    "fl.prone.reason": "Reason",
    "fl.prone.done": "{street} designated flood-prone.",
    "fl.prone.works": "anti-flooding works",
    "fl.work.name": "Works",
    "fl.work.status": "Status",
    "fl.work.start": "Start",
    "fl.work.end": "End",
    "fl.work.note": "Note",
    "fl.work.planned": "planned",
    "fl.work.in_progress": "in progress",
    "fl.work.done": "done",
    "fl.work.suspended": "suspended",
    "fl.work.statuses": "Status: planned, in_progress, done or suspended.",
    "fl.work.save": "Save works",
    "fl.work.saved": "Works of {street} saved.",
    "fl.feed.intro": (
        "{n} flooded stretches at {when} ({features} segments by direction of travel), for "
        "the operations centre (IOC)."
    ),
    "fl.feed.geojson": "Download GeoJSON",
    "fl.feed.cap": "Download CAP 1.2 alert (XML)",
    "fl.feed.cli": (
        "Command line: python -m geo flood feed --format cap (or geojson). The CAP file is "
        "validated against the OASIS CAP 1.2 schema before download."
    ),
    "fl.streets.title": "Street network",
    "fl.streets.info": "{n} segments · source: {source} · updated {when}",
    "fl.streets.how": (
        "An .osm or .osm.pbf file (e.g. a Geofabrik or JOSM extract). A new import replaces the "
        "network; flood reports are kept."
    ),
    "fl.streets.upload": "OpenStreetMap file",
    "fl.streets.sample": "Use the sample network",
    "fl.streets.sample_help": (
        "Real OpenStreetMap data of central HCMC (around Nam Kỳ Khởi Nghĩa, District 3), to "
        "learn with; not the ward's streets."
    ),
    "fl.streets.sample_banner": (
        "SAMPLE NETWORK: streets of central HCMC (District 3), not the ward's. For learning; "
        "import the ward's streets under “Street network”."
    ),
    "fl.streets.import": "Import the street network",
    "fl.streets.fetch": "Fetch from OpenStreetMap (online)",
    "fl.streets.reading": "Reading the OpenStreetMap file…",
    "fl.streets.fetching": "Fetching the ward's streets from OpenStreetMap…",
    "fl.streets.done": "{n} street segments stored.",
    "fl.streets.resnapped": "{n} live flood reports were moved onto the new network.",
    "fl.off_network": (
        "{n} live flood reports are no longer on the current street network (it was "
        "re-imported), so they are not on the map and routes ignore them."
    ),
    "fl.resnap": "Move them onto the network",
    "rt.at_ends": (
        "The start or the destination is on a segment that is closed or too deep: no route "
        "avoids it."
    ),
    "fl.r.unknown": "Depth unknown",
    "fl.e.viewer": "Your role may only view; it may not change flood data.",
    "fl.e.too_big": "The file is larger than the {mb} MB limit.",
    "fl.e.osm": "The OpenStreetMap file could not be read: {error}",
    "fl.e.offline": "Could not fetch from OpenStreetMap: {error}",
    "fl.e.input": "Not valid: {error}",
    "fl.e.conflict": (
        "Someone else has just changed this report. Press “Reload” to see the latest, then "
        "try again."
    ),
    "rt.title": "Flood-safe route",
    "rt.intro": (
        "Click two points on the map (start, then destination) or type coordinates. The green "
        "route avoids closed segments and water deeper than the vehicle passes; the dashed "
        "grey line is the shortest route if floods were ignored."
    ),
    "rt.origin": "Start (latitude, longitude)",
    "rt.destination": "Destination (latitude, longitude)",
    "rt.vehicle": "Vehicle",
    "rt.vehicle.motorbike": "Motorbike",
    "rt.vehicle.car": "Car",
    "rt.vehicle.truck": "Truck",
    "rt.max_depth": "Deepest water the vehicle passes (cm)",
    "rt.clear": "Start again",
    "rt.click_origin": "Click the map to choose the start.",
    "rt.click_destination": "Click the map to choose the destination.",
    "rt.bad_point": "Coordinates not valid: {error}",
    "rt.shortest": "Shortest (ignoring floods)",
    "rt.safe": "Avoiding floods",
    "rt.detour": "Detour",
    "rt.clear_route": "The shortest route crosses no flood beyond the limit: go as usual.",
    "rt.blocked": (
        "The shortest route crosses {n} segments that are closed or too deep; the green route "
        "goes around."
    ),
    "rt.no_route": (
        "No route avoids the floods for a {vehicle} (max {depth} cm). The shortest route "
        "crosses {n} segments that are closed or too deep: wait for the water to recede or use "
        "another vehicle."
    ),
    "rt.unreachable": "The two points are not joined by the street network: {error}",
    "rt.streets": "Via: {streets}",
    "rt.floods_at": "Using the floods at {when}.",
}
