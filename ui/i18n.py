"""Every UI text in Vietnamese (the default) and English, with number formatting per language."""

from __future__ import annotations

import math

from ui import i18n_auth as _auth
from ui import i18n_clearance as _clearance
from ui import i18n_elevation as _elevation
from ui import i18n_floods as _floods

LANG_NAMES = {"vi": "Tiếng Việt", "en": "English"}

VI: dict[str, str] = {
    # app shell
    "app.title": "Bản đồ số phường {ward}",
    "app.language": "Ngôn ngữ",
    "app.ward_caption": "{kind} {ward} · {province}",
    "app.since": "Đơn vị hành chính mới từ 01/07/2025.",
    "app.config_error": "Cấu hình không hợp lệ: {error}",
    "app.store_error": "Không mở được kho dữ liệu: {error}",
    "app.db_down": (
        "Cơ sở dữ liệu tạm thời không kết nối được. Dữ liệu đã lưu vẫn an toàn; ứng dụng tự "
        "kết nối lại khi máy chủ hoạt động trở lại."
    ),
    "app.db_unsaved": (
        "Nếu bạn vừa bấm lưu một thay đổi, hãy kiểm tra lại sau khi kết nối được: thay đổi đó "
        "có thể chưa được lưu."
    ),
    "app.db_detail": "Chi tiết: {error}",
    "app.db_retry": "Thử lại",
    "nav.map": "Bản đồ",
    "nav.merger": "Sáp nhập",
    "nav.lookup": "Tra cứu",
    "nav.data": "Dữ liệu",
    # map page and map widget
    "map.title": "Bản đồ phường {ward}",
    "map.intro": (
        "Phường {ward} (viền đỏ) và các phường lân cận theo ranh giới mới; nét đứt là "
        "ranh giới phường cũ trước ngày 01/07/2025. Bấm vào một phường để xem thông tin."
    ),
    "map.controls": "Lớp bản đồ và nền",
    "map.basemap": "Bản đồ nền",
    "map.basemap.none": "Không có (dùng ngoại tuyến)",
    "map.basemap.osm": "OpenStreetMap",
    "map.basemap.carto": "CARTO sáng",
    "map.visible": "Hiện",
    "map.opacity": "Độ đậm",
    "map.legend": "Chú giải",
    "map.no_layers": "Chưa chọn lớp nào để hiển thị.",
    "map.panel.title": "Thông tin đối tượng",
    "map.panel.hint": "Bấm vào một phường trên bản đồ để xem thuộc tính tại đây.",
    "map.panel.gone": "Đối tượng này không còn trong kho dữ liệu (lớp đã được thay).",
    "map.panel.field": "Thuộc tính",
    "map.panel.value": "Giá trị",
    "map.panel.meta": "Mã đối tượng {fid} · phiên bản {version} · cập nhật {updated}",
    "map.sources": "Nguồn dữ liệu: {sources}.",
    # merger page
    "merger.title": "Sáp nhập: phường {ward}",
    "merger.intro": (
        "Phường {ward} được thành lập ngày 01/07/2025. Diện tích đo trên bản đồ theo hệ "
        "VN-2000 ({crs}); tỷ lệ là phần diện tích của phường cũ nằm trong phường mới."
    ),
    "merger.areas": "Diện tích",
    "merger.measured": "Đo trên bản đồ (VN-2000)",
    "merger.stated": "Theo bộ dữ liệu",
    "merger.official": "Công bố chính thức",
    "merger.official_help": "Nguồn: {source}",
    "merger.none": "Không có",
    "merger.area_flag": (
        "Diện tích đo được ({measured} km²) lệch {diff} so với diện tích công bố "
        "({reference} km²). Ranh giới trong bộ dữ liệu có thể chưa chính xác."
    ),
    "merger.area_ok": "Diện tích đo được khớp diện tích công bố (lệch {diff}).",
    "merger.population": "Dân số",
    "merger.pop_dataset": "Theo bộ dữ liệu",
    "merger.pop_official": "Công bố chính thức",
    "merger.pop_planned": "Quy hoạch",
    "merger.composition": "Thành phần: các phường cũ hợp thành",
    "merger.col.old_ward": "Phường cũ",
    "merger.col.district": "Quận, TP cũ",
    "merger.col.area": "Diện tích trong phường mới (km²)",
    "merger.col.old_area": "Diện tích phường cũ (km²)",
    "merger.col.share": "Tỷ lệ (%)",
    "merger.col.official": "Có trong danh sách chính thức",
    "merger.col.new_wards": "Thuộc phường mới",
    "merger.col.split": "Bị chia",
    "merger.chart": "Tỷ lệ diện tích mỗi phường cũ nằm trong phường {ward} (%)",
    "merger.missing": "Có trong danh sách chính thức nhưng không tìm thấy trên bản đồ: {names}.",
    "merger.extra": "Tìm thấy trên bản đồ nhưng không có trong danh sách chính thức: {names}.",
    "merger.slivers": (
        "Bỏ qua {count} phần chồng lấn nhỏ (dưới 10 %) do hai bộ ranh giới vẽ lệch nhau."
    ),
    "merger.splits": "Mỗi phường cũ được chia cho các phường mới như thế nào",
    "merger.yes": "Có",
    "merger.no": "Không",
    # lookup page
    "lookup.title": "Tra cứu phường cũ → phường mới",
    "lookup.intro": "Tìm phường mới của một phường cũ theo tên, hoặc theo toạ độ một điểm.",
    "lookup.by_name": "Theo tên phường cũ",
    "lookup.by_point": "Theo toạ độ",
    "lookup.name_label": "Tên phường cũ",
    "lookup.name_help": "Gõ có dấu hoặc không dấu, ví dụ: Thảo Điền, thao dien, Phường An Phú.",
    "lookup.moved": "{old} ({district}) nay thuộc {new}.",
    "lookup.split": "{old} ({district}) đã bị chia cho nhiều phường, xã mới: {parts}.",
    "lookup.nowhere": "{old} ({district}) không nằm trong phường, xã mới nào của bộ dữ liệu.",
    "lookup.former_unit": "Đơn vị này đã sáp nhập vào {old} trước năm 2025.",
    "lookup.approximate": "Kết quả gần đúng với tên đã gõ.",
    "lookup.not_found": "Không tìm thấy phường cũ nào tên “{query}”.",
    "lookup.lat": "Vĩ độ (lat)",
    "lookup.lon": "Kinh độ (lon)",
    "lookup.point_old": "Phường cũ",
    "lookup.point_new": "Phường mới",
    "lookup.point_none": "Điểm này nằm ngoài các phường trong bộ dữ liệu.",
    "lookup.unknown": "không xác định",
    # data page
    "data.title": "Dữ liệu",
    "data.licence": (
        "Lưu ý giấy phép: ranh giới phường cũ lấy từ GADM 4.1, chỉ dùng phi thương mại và "
        "không được phân phối lại khi chưa được GADM cho phép. Giấy phép của ranh giới phường "
        "mới (vietnam-3d-map / gis.vn / sapnhap.bando.com.vn) chưa rõ. Có thể thay các lớp này "
        "bằng dữ liệu của phường hoặc ranh giới OpenStreetMap: Nhập dữ liệu → Thay lớp có sẵn."
    ),
    "data.catalog": "Danh mục lớp",
    "data.col.id": "Mã lớp",
    "data.col.title": "Tên",
    "data.col.source": "Nguồn",
    "data.col.licence": "Giấy phép",
    "data.col.count": "Số đối tượng",
    "data.col.updated": "Cập nhật",
    "data.import": "Nhập dữ liệu",
    "data.upload": "Tệp dữ liệu ({formats})",
    "data.crs": "Hệ toạ độ của tệp (không bắt buộc)",
    "data.crs_help": (
        "Ví dụ EPSG:9210 (VN-2000 TM-3 105°45'). Để trống để dùng hệ khai báo trong tệp."
    ),
    "data.swap": "Đảo thứ tự vĩ độ/kinh độ",
    "data.repair": "Cho phép sửa hình học lỗi (có thể làm thay đổi ranh giới)",
    "data.preview": "Xem trước: {count} đối tượng, hệ toạ độ gốc {crs}",
    "data.preview_layer": "Dữ liệu xem trước",
    "data.target": "Ghi vào",
    "data.target_new": "Lớp mới",
    "data.target_replace": "Thay lớp có sẵn",
    "data.new_id": "Mã lớp mới",
    "data.new_id_help": "Chữ thường không dấu, số và dấu gạch dưới, ví dụ ranh_gioi_osm.",
    "data.replace_id": "Lớp bị thay",
    "data.layer_title": "Tên lớp",
    "data.source": "Nguồn dữ liệu",
    "data.source_licence": "Giấy phép",
    "data.write": "Ghi vào kho",
    "data.exists": "Lớp {layer} đã có. Chọn “Thay lớp có sẵn” để ghi đè.",
    "data.written": "Đã ghi {count} đối tượng vào lớp {layer}.",
    "data.export": "Xuất dữ liệu",
    "data.export_layer": "Lớp",
    "data.export_format": "Định dạng",
    "data.download": "Tải xuống {filename}",
}

EN: dict[str, str] = {
    "app.title": "{ward} ward web map",
    "app.language": "Language",
    "app.ward_caption": "{ward} ward · {province}",
    "app.since": "New administrative unit since 1 July 2025.",
    "app.config_error": "Invalid configuration: {error}",
    "app.store_error": "Could not open the data store: {error}",
    "app.db_down": (
        "The database is not reachable at the moment. What was saved is safe; the app "
        "reconnects by itself when the server is back."
    ),
    "app.db_unsaved": (
        "If you had just saved a change, check it once the database is back: it may not have "
        "been saved."
    ),
    "app.db_detail": "Details: {error}",
    "app.db_retry": "Try again",
    "nav.map": "Map",
    "nav.merger": "Merger",
    "nav.lookup": "Lookup",
    "nav.data": "Data",
    "map.title": "Map of {ward} ward",
    "map.intro": (
        "{ward} ward (red outline) and its neighbours within the new boundaries; dashed "
        "lines are the old ward boundaries before 1 July 2025. Click a ward for details."
    ),
    "map.controls": "Layers and basemap",
    "map.basemap": "Basemap",
    "map.basemap.none": "None (works offline)",
    "map.basemap.osm": "OpenStreetMap",
    "map.basemap.carto": "CARTO light",
    "map.visible": "Show",
    "map.opacity": "Opacity",
    "map.legend": "Legend",
    "map.no_layers": "No layer is selected for display.",
    "map.panel.title": "Feature details",
    "map.panel.hint": "Click a ward on the map to see its attributes here.",
    "map.panel.gone": "This feature is no longer in the store (the layer was replaced).",
    "map.panel.field": "Attribute",
    "map.panel.value": "Value",
    "map.panel.meta": "Feature {fid} · version {version} · updated {updated}",
    "map.sources": "Data sources: {sources}.",
    "merger.title": "Merger: {ward} ward",
    "merger.intro": (
        "{ward} ward was formed on 1 July 2025. Areas are measured on the map in VN-2000 "
        "({crs}); the share is the part of an old ward's area inside the new ward."
    ),
    "merger.areas": "Area",
    "merger.measured": "Measured (VN-2000)",
    "merger.stated": "Dataset",
    "merger.official": "Official",
    "merger.official_help": "Source: {source}",
    "merger.none": "None",
    "merger.area_flag": (
        "The measured area ({measured} km²) differs by {diff} from the official area "
        "({reference} km²). The dataset's boundary may be inaccurate."
    ),
    "merger.area_ok": "The measured area matches the official area (difference {diff}).",
    "merger.population": "Population",
    "merger.pop_dataset": "Dataset",
    "merger.pop_official": "Official",
    "merger.pop_planned": "Planned",
    "merger.composition": "Composition: the old wards it was formed from",
    "merger.col.old_ward": "Old ward",
    "merger.col.district": "Former district",
    "merger.col.area": "Area inside the new ward (km²)",
    "merger.col.old_area": "Old ward area (km²)",
    "merger.col.share": "Share (%)",
    "merger.col.official": "In the official list",
    "merger.col.new_wards": "New wards",
    "merger.col.split": "Split",
    "merger.chart": "Share of each old ward's area inside {ward} ward (%)",
    "merger.missing": "In the official list but not found on the map: {names}.",
    "merger.extra": "Found on the map but not in the official list: {names}.",
    "merger.slivers": (
        "{count} small overlaps (under 10 %) left out: the two boundary datasets draw "
        "shared lines differently."
    ),
    "merger.splits": "How each old ward was divided among the new wards",
    "merger.yes": "Yes",
    "merger.no": "No",
    "lookup.title": "Old ward → new ward lookup",
    "lookup.intro": "Find the new ward of an old ward by its name, or by a point's coordinates.",
    "lookup.by_name": "By old ward name",
    "lookup.by_point": "By coordinates",
    "lookup.name_label": "Old ward name",
    "lookup.name_help": "With or without diacritics, e.g. Thảo Điền, thao dien, Phường An Phú.",
    "lookup.moved": "{old} ({district}) is now part of {new}.",
    "lookup.split": "{old} ({district}) was split among several new wards: {parts}.",
    "lookup.nowhere": "{old} ({district}) lies in no new ward of the dataset.",
    "lookup.former_unit": "This unit was merged into {old} before 2025.",
    "lookup.approximate": "Approximate match for the name typed.",
    "lookup.not_found": "No old ward named “{query}” was found.",
    "lookup.lat": "Latitude",
    "lookup.lon": "Longitude",
    "lookup.point_old": "Old ward",
    "lookup.point_new": "New ward",
    "lookup.point_none": "This point lies outside the wards in the dataset.",
    "lookup.unknown": "unknown",
    "data.title": "Data",
    "data.licence": (
        "Licence note: the old ward boundaries come from GADM 4.1, for non-commercial use "
        "only, and may not be redistributed without GADM's permission. The licence of the new "
        "ward boundaries (vietnam-3d-map / gis.vn / sapnhap.bando.com.vn) is unclear. You can "
        "replace these layers with your own data or OpenStreetMap boundaries: Import → Replace "
        "an existing layer."
    ),
    "data.catalog": "Layer catalogue",
    "data.col.id": "Layer id",
    "data.col.title": "Title",
    "data.col.source": "Source",
    "data.col.licence": "Licence",
    "data.col.count": "Features",
    "data.col.updated": "Updated",
    "data.import": "Import",
    "data.upload": "Data file ({formats})",
    "data.crs": "CRS of the file (optional)",
    "data.crs_help": "E.g. EPSG:9210 (VN-2000 TM-3 105°45'). Leave empty to use the file's own.",
    "data.swap": "Swap latitude/longitude",
    "data.repair": "Allow repairing invalid geometries (may change boundaries)",
    "data.preview": "Preview: {count} features, source CRS {crs}",
    "data.preview_layer": "Preview data",
    "data.target": "Write to",
    "data.target_new": "New layer",
    "data.target_replace": "Replace an existing layer",
    "data.new_id": "New layer id",
    "data.new_id_help": "Lowercase ASCII letters, digits and underscores, e.g. osm_boundaries.",
    "data.replace_id": "Layer to replace",
    "data.layer_title": "Layer title",
    "data.source": "Data source",
    "data.source_licence": "Licence",
    "data.write": "Write to the store",
    "data.exists": "Layer {layer} already exists. Choose “Replace an existing layer” to overwrite.",
    "data.written": "Wrote {count} features to layer {layer}.",
    "data.export": "Export",
    "data.export_layer": "Layer",
    "data.export_format": "Format",
    "data.download": "Download {filename}",
}

VI.update(_clearance.VI)
EN.update(_clearance.EN)
VI.update(_floods.VI)
EN.update(_floods.EN)
VI.update(_elevation.VI)
EN.update(_elevation.EN)
VI.update(_auth.VI)
EN.update(_auth.EN)
MESSAGES: dict[str, dict[str, str]] = {"vi": VI, "en": EN}


def t(key: str, lang: str = "vi", **values: object) -> str:
    """The text for ``key`` in ``lang`` (Vietnamese for an unknown language).

    Parameters
    ----------
    key
        A message key, e.g. ``"nav.map"``.
    lang
        ``"vi"`` or ``"en"``.
    **values
        Values for the ``{placeholders}`` in the text.

    Raises
    ------
    KeyError
        If no text has that key, so that a missing translation fails loudly in tests.
    """
    table = MESSAGES.get(lang, VI)
    text = table[key]
    return text.format(**values) if values else text


def fmt_num(value: float | int | None, lang: str = "vi", digits: int = 0) -> str:
    """A number with the language's separators: ``15,33`` / ``76.967`` in Vietnamese.

    Parameters
    ----------
    value
        The number; ``None`` or NaN gives an en dash.
    lang
        ``"vi"`` or ``"en"``.
    digits
        Decimals shown.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{digits}f}"
    if lang == "vi":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


def fmt_pct(share: float | None, lang: str = "vi", digits: int = 1) -> str:
    """A fraction (0..1) as a percentage: ``36,7 %`` in Vietnamese, ``36.7%`` in English."""
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "–"
    number = fmt_num(share * 100, lang, digits)
    return f"{number} %" if lang == "vi" else f"{number}%"
