import Foundation

/// A boot's timeline as a picture, like `systemd-analyze plot`: one row per module in order of
/// first request, on a time axis — a thin bar from the first request to the init's start
/// (checking and mapping the file, binding, waiting for what it uses), a thick bar for the init,
/// green when it went live and red when it failed; a thin line from each module's init start
/// back to the end of what it waited for; the critical path's modules in bold. A self-contained
/// SVG any browser or `rsvg-convert` opens.
public enum BootPlot {
    /// The SVG of `report` (its ``Boot/Report/timeline``; an empty picture says there was none).
    public static func svg(_ report: Boot.Report, title: String) -> String {
        let timeline = report.timeline ?? []
        let critical = Set(report.criticalPath ?? [])
        let end = max(1, timeline.compactMap { $0.initEndMs ?? $0.firstRequestMs }.max() ?? 1, report.wallMs)
        let left = 230.0
        let width = 900.0
        let row = 18.0
        let top = 70.0
        let height = top + Double(max(timeline.count, 1)) * row + 50
        func x(_ ms: Double) -> Double { left + ms / end * width }
        let step = niceStep(end / 10)
        var svg = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(left + width + 140))" height="\##(Int(height))" font-family="sans-serif" font-size="12">"##,
            ##"<rect width="100%" height="100%" fill="white"/>"##,
            ##"<text x="10" y="22" font-size="16" font-weight="bold">\##(escapeXML(title))</text>"##,
            ##"<text x="10" y="42" fill="#555">\##(escapeXML(subtitle(report)))</text>"##,
            ##"<rect x="10" y="51" width="24" height="4" fill="#adb5bd"/><text x="40" y="58" fill="#555">first request → init: file checked, mapped, bound; waiting for what it uses</text>"##,
            ##"<rect x="500" y="47" width="14" height="12" fill="#2b8a3e"/><text x="520" y="58" fill="#555">init, live</text>"##,
            ##"<rect x="590" y="47" width="14" height="12" fill="#c92a2a"/><text x="610" y="58" fill="#555">init, failed</text>"##,
            ##"<line x1="700" y1="53" x2="724" y2="53" stroke="#74c0fc"/><text x="730" y="58" fill="#555">waited for</text>"##,
            ##"<text x="830" y="58" fill="#555" font-weight="bold">bold: the critical path</text>"##,
        ]
        var tick = 0.0
        while tick <= end + step / 2 {
            svg.append(##"<line x1="\##(x(tick))" y1="\##(top - 6)" x2="\##(x(tick))" y2="\##(height - 40)" stroke="#e9ecef"/>"##)
            svg.append(##"<text x="\##(x(tick))" y="\##(height - 24)" text-anchor="middle" fill="#555">\##(format(tick)) ms</text>"##)
            tick += step
        }
        let rows = Dictionary(uniqueKeysWithValues: timeline.enumerated().map { ($1.module, Double($0)) })
        // Edges first, so bars draw over them.
        for entry in timeline {
            guard let start = entry.initStartMs, let y = rows[entry.module] else { continue }
            for name in entry.after {
                guard let before = timeline.first(where: { $0.module == name }), let beforeEnd = before.initEndMs, let by = rows[name] else { continue }
                svg.append(
                    ##"<line x1="\##(x(beforeEnd))" y1="\##(top + by * row + row / 2)" x2="\##(x(start))" y2="\##(top + y * row + row / 2)" stroke="#74c0fc" stroke-width="0.6" stroke-opacity="0.7"/>"##
                )
            }
        }
        for (index, entry) in timeline.enumerated() {
            let y = top + Double(index) * row
            let weight = critical.contains(entry.module) ? "bold" : "normal"
            let suffix = entry.requests > 1 ? " ×\(entry.requests)" : ""
            svg.append(##"<text x="\##(left - 6)" y="\##(y + 13)" text-anchor="end" font-weight="\##(weight)">\##(escapeXML(entry.module + suffix))</text>"##)
            let waitEnd = entry.initStartMs ?? entry.initEndMs ?? entry.firstRequestMs
            svg.append(
                ##"<rect x="\##(x(entry.firstRequestMs))" y="\##(y + 7)" width="\##(max(1, x(waitEnd) - x(entry.firstRequestMs)))" height="4" fill="#adb5bd"/>"##)
            if let start = entry.initStartMs, let finish = entry.initEndMs {
                let color = entry.outcome == "live" ? "#2b8a3e" : "#c92a2a"
                svg.append(##"<rect x="\##(x(start))" y="\##(y + 3)" width="\##(max(1.5, x(finish) - x(start)))" height="\##(row - 6)" fill="\##(color)"/>"##)
                let note = entry.outcome == "live" ? format(finish - start) + " ms" : "\(entry.error ?? "failed") after " + format(finish - start) + " ms"
                svg.append(##"<text x="\##(x(finish) + 5)" y="\##(y + 13)" fill="#555">\##(escapeXML(note))</text>"##)
            }
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }

    private static func subtitle(_ r: Boot.Report) -> String {
        var parts = ["\(r.requests) requests", "\(r.mergedJoiners) merged", "\(r.inits.values.reduce(0, +)) inits of \(r.inits.count) modules"]
        parts.append("wall " + format(r.wallMs) + " ms")
        if let path = r.criticalPathMs { parts.append("critical path " + format(path) + " ms") }
        if let baseline = r.baseline { parts.append("kmod-style baseline " + format(baseline.wallMs) + " ms (" + String(format: "%.0f", baseline.ratio) + "×)") }
        return parts.joined(separator: " · ")
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    private static func niceStep(_ raw: Double) -> Double {
        let power = pow(10, floor(log10(max(raw, 1e-3))))
        return [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
    }

    private static func format(_ ms: Double) -> String { ms >= 100 ? String(format: "%.0f", ms) : String(format: "%.1f", ms) }
}

/// `text` with the characters XML gives a meaning to escaped.
public func escapeXML(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        .replacingOccurrences(of: "\"", with: "&quot;")
}
