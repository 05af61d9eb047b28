"""UI texts of the elevation page, in Vietnamese and English."""

from __future__ import annotations

VI: dict[str, str] = {
    "nav.elevation": "Địa hình thấp",
    "el.title": "Địa hình thấp và mực nước",
    "el.intro": (
        "Cao độ lấy từ mô hình số độ cao (DEM): đoạn đường nào trũng, và nếu nước dâng tới "
        "một mực nào đó thì vùng nào, đoạn đường nào bị ngập."
    ),
    "el.no_dem": (
        "Phường chưa có mô hình độ cao (DEM). Có hai cách:\n\n"
        "- **Tải lên tệp GeoTIFF** (.tif) ghi cao độ bằng mét, ví dụ DEM đo đạc của thành phố.\n"
        "- **Tải Copernicus GLO-30** cho phường (cần mạng): miễn phí, ô lưới 30 m. Đây là mô "
        "hình *bề mặt*, tính cả mái nhà và cây; cao độ theo EGM2008, không theo hệ cao độ "
        "quốc gia Hòn Dấu, nên chỉ dùng để so sánh nơi cao, nơi thấp.\n\n"
        "Sau khi lưu, trang này dùng được cả khi không có mạng."
    ),
    "el.viewer_note": (
        "Bạn đang ở vai trò «xem»: chỉ người biên tập, người duyệt hoặc quản trị mới lưu hay "
        "xoá được DEM."
    ),
    "el.upload": "Tệp GeoTIFF độ cao (tối đa {mb} MB)",
    "el.upload.save": "Lưu làm DEM của phường",
    "el.upload.reading": "Đang đọc tệp…",
    "el.fetch": "Tải Copernicus GLO-30 cho phường",
    "el.fetching": "Đang tải GLO-30…",
    "el.fetch.progress": "Đã đọc {done}/{total} mảnh dữ liệu",
    "el.saved": "Đã lưu mô hình độ cao ({source}).",
    "el.removed": "Đã xoá mô hình độ cao của phường.",
    "el.e.viewer": (
        "Vai trò «xem» không được thay hay xoá mô hình độ cao; hãy nhờ người biên tập."
    ),
    "el.e.upload": "Không dùng được tệp này: {error}",
    "el.e.offline": (
        "Không tải được GLO-30: máy có thể đang không có mạng hoặc máy chủ không trả lời. "
        "Hãy tải tệp GeoTIFF ở một máy có mạng rồi tải lên ở trên. Chi tiết: {error}"
    ),
    "el.e.fetch": "Không tải được GLO-30: {error}",
    "el.e.stored": "Không đọc được DEM đã lưu: {error}. Hãy thay bằng tệp khác hoặc xoá đi.",
    "el.dem.caption": (
        "DEM: {source} · {cols} × {rows} ô, mỗi ô khoảng {cell} m · cao độ từ {low} đến {high} m"
    ),
    "el.dem.glo30_source": "Copernicus GLO-30 ({n} mảnh 1°)",
    "el.dem.glo30_note": (
        "GLO-30 là mô hình bề mặt (tính cả mái nhà, cây), cao độ theo EGM2008 chứ không theo "
        "hệ Hòn Dấu: dùng để so sánh nơi cao, nơi thấp, không phải cao độ thiết kế. {credit}"
    ),
    "el.manage": "Thay hoặc xoá mô hình độ cao",
    "el.remove.confirm": "Tôi chắc chắn muốn xoá DEM của phường",
    "el.remove": "Xoá DEM",
    "el.no_streets": (
        "Chưa có mạng lưới đường nên chưa tìm được đoạn đường trũng; bản đồ chỉ hiện vùng thấp "
        "hơn mực nước. Nhập tệp OpenStreetMap của phường ở dưới."
    ),
    "el.streets_outside": (
        "Không đoạn đường nào nằm trong phạm vi DEM: hãy dùng một DEM phủ cả phường."
    ),
    "el.threshold": "Ngưỡng đường trũng (m)",
    "el.threshold.help": (
        "Đoạn đường có điểm thấp nhất không cao hơn ngưỡng này là đoạn trũng. Mặc định: mức "
        "của 10 % đoạn thấp nhất."
    ),
    "el.level": "Mực nước (m)",
    "el.connected": "Chỉ vùng nước tràn tới được",
    "el.connected.help": (
        "Bật: chỉ ngập vùng thấp nối liền với nguồn nước. Tắt: ngập mọi chỗ thấp hơn mực nước, "
        "kể cả chỗ trũng bị đất cao bao quanh."
    ),
    "el.water_edge": (
        "Chưa có lớp sông, kênh nên nước được coi là tràn vào từ mép vùng DEM (và từ chỗ thiếu "
        "dữ liệu). Đây là mô hình «bồn tắm»: chỉ xét cao độ, không xét mưa, cống hay thời gian."
    ),
    "el.m.low": "Đoạn đường trũng",
    "el.m.low_length": "Chiều dài đường trũng",
    "el.m.area": "Diện tích ngập",
    "el.m.flooded": "Đoạn đường ngập",
    "el.low.title": "Đoạn đường trũng, ≤ {threshold} m ({n})",
    "el.flooded.title": "Đoạn đường ngập ở mực nước {level} m ({n})",
    "el.low.none": "Không có đoạn đường nào thấp hơn ngưỡng.",
    "el.flooded.none": "Mực nước này không làm ngập đoạn đường nào.",
    "el.tables.note": "Đường hai chiều chỉ ghi một lần mỗi đoạn.",
    "el.csv": "Tải CSV",
    "el.col.name": "Tên đường",
    "el.col.segment": "Mã đoạn",
    "el.col.elev_min": "Cao độ thấp nhất (m)",
    "el.col.elev_mean": "Cao độ trung bình (m)",
    "el.col.depth": "Ngập sâu (m)",
    "el.col.share": "Phần bị ngập (%)",
    "el.unnamed": "đường không tên",
    "el.area.connected": "Nước tràn tới",
    "el.area.enclosed": "Trũng kín, không nối với nguồn nước",
}

EN: dict[str, str] = {
    "nav.elevation": "Low ground",
    "el.title": "Low ground and water levels",
    "el.intro": (
        "Elevations from a digital elevation model (DEM): which street segments lie low, and "
        "which ground and streets a given water level would flood."
    ),
    "el.no_dem": (
        "The ward has no elevation model (DEM) yet. Two ways to add one:\n\n"
        "- **Upload a GeoTIFF** (.tif) of elevations in metres, e.g. the city's surveyed DEM.\n"
        "- **Fetch Copernicus GLO-30** for the ward (needs the internet): free, 30 m cells. It "
        "is a *surface* model that includes roofs and trees, and its heights are relative to "
        "EGM2008, not the national Hòn Dấu datum: use it to compare higher and lower ground.\n\n"
        "Once saved, this page works offline."
    ),
    "el.viewer_note": (
        "You are a viewer: only an editor, approver or admin can save or remove the DEM."
    ),
    "el.upload": "Elevation GeoTIFF (at most {mb} MB)",
    "el.upload.save": "Save as the ward's DEM",
    "el.upload.reading": "Reading the file…",
    "el.fetch": "Fetch Copernicus GLO-30 for the ward",
    "el.fetching": "Fetching GLO-30…",
    "el.fetch.progress": "{done} of {total} tiles read",
    "el.saved": "Elevation model saved ({source}).",
    "el.removed": "The ward's elevation model was removed.",
    "el.e.viewer": "A viewer may not replace or remove the elevation model; ask an editor.",
    "el.e.upload": "This file cannot be used: {error}",
    "el.e.offline": (
        "Could not fetch GLO-30: this machine may be offline or the server did not answer. "
        "Download the GeoTIFF on a machine with internet access and upload it above instead. "
        "Details: {error}"
    ),
    "el.e.fetch": "Could not fetch GLO-30: {error}",
    "el.e.stored": "The stored DEM cannot be read: {error}. Replace it or remove it.",
    "el.dem.caption": (
        "DEM: {source} · {cols} × {rows} cells of about {cell} m · elevations {low} to {high} m"
    ),
    "el.dem.glo30_source": "Copernicus GLO-30 ({n} 1° tile(s))",
    "el.dem.glo30_note": (
        "GLO-30 is a surface model (roofs and trees included) with heights relative to EGM2008, "
        "not the Hòn Dấu datum: it compares higher and lower ground; it is not a design level. "
        "{credit}"
    ),
    "el.manage": "Replace or remove the elevation model",
    "el.remove.confirm": "Yes, remove the ward's DEM",
    "el.remove": "Remove the DEM",
    "el.no_streets": (
        "There is no street network yet, so no low streets can be found; the map shows only the "
        "ground below the water level. Import the ward's OpenStreetMap file below."
    ),
    "el.streets_outside": "No street segment lies within the DEM: use a DEM covering the ward.",
    "el.threshold": "Low-street threshold (m)",
    "el.threshold.help": (
        "A segment whose lowest point is at or below this level is low. Default: the level of "
        "the lowest 10 % of segments."
    ),
    "el.level": "Water level (m)",
    "el.connected": "Only ground the water can reach",
    "el.connected.help": (
        "On: only low ground connected to the water floods. Off: everything below the level "
        "floods, including pits enclosed by higher ground."
    ),
    "el.water_edge": (
        "There is no river or canal layer, so water is taken to enter from the DEM's edge (and "
        "next to missing data). This is a bathtub model: elevation only, no rain, drains or time."
    ),
    "el.m.low": "Low segments",
    "el.m.low_length": "Length of low streets",
    "el.m.area": "Flooded area",
    "el.m.flooded": "Flooded segments",
    "el.low.title": "Low segments, ≤ {threshold} m ({n})",
    "el.flooded.title": "Segments flooded at {level} m ({n})",
    "el.low.none": "No segment is below the threshold.",
    "el.flooded.none": "This level floods no street segment.",
    "el.tables.note": "Two-way streets are listed once per segment.",
    "el.csv": "Download CSV",
    "el.col.name": "Street",
    "el.col.segment": "Segment",
    "el.col.elev_min": "Lowest elevation (m)",
    "el.col.elev_mean": "Mean elevation (m)",
    "el.col.depth": "Depth (m)",
    "el.col.share": "Share under water (%)",
    "el.unnamed": "unnamed street",
    "el.area.connected": "Reached by the water",
    "el.area.enclosed": "Enclosed pit, not connected to the water",
}
