import Foundation
import ModloadDemo

extension BurstBench {
    /// The 288-CPU boot's comparison (docs/design.md §1) as a picture: one bar per loader, wall time on a log scale — this
    /// run's loaders, and the kernels measured in the 288-CPU boot (seconds per burst) for
    /// scale. A self-contained SVG any browser opens.
    public static func svg(_ r: Report) -> String {
        struct Bar {
            let label: String
            let ms: Double
            let color: String
        }
        let ours = ([r.modload] + r.baselines).map { loader in
            Bar(
                label: "\(loader.name) (this machine)", ms: loader.wallMs,
                color: loader.name == "modload" ? "#2b8a3e" : "#868e96")
        }
        // The 288-CPU boot's table, averages of five boots (pcc and acpi measured separately).
        let seed = [
            Bar(label: "kernel 6.0-rc3, pcc (the 288-CPU boot)", ms: 44_998, color: "#c92a2a"),
            Bar(label: "kernel 6.0-rc3, acpi (the 288-CPU boot)", ms: 45_200, color: "#c92a2a"),
            Bar(label: "kernel + merge fix, pcc (the 288-CPU boot)", ms: 2_011, color: "#e67700"),
            Bar(label: "kernel + merge fix, acpi (the 288-CPU boot)", ms: 6_989, color: "#e67700"),
        ]
        let bars = ours + seed
        let minLog = floor(log10(max(0.1, bars.map(\.ms).min()!)))
        let maxLog = ceil(log10(bars.map(\.ms).max()!))
        let left = 300.0
        let width = 560.0
        let rowHeight = 28.0
        let top = 60.0
        func x(_ ms: Double) -> Double { left + (log10(ms) - minLog) / (maxLog - minLog) * width }
        let escape = escapeXML
        var svg = [
            ##"<svg xmlns="http://www.w3.org/2000/svg" width="\##(Int(left + width + 120))" height="\##(Int(top + Double(bars.count) * rowHeight + 60))" font-family="sans-serif" font-size="13">"##,
            ##"<text x="10" y="24" font-size="16" font-weight="bold">\##(escape("Burst of \(r.requests) failing module requests: wall time, log scale"))</text>"##,
            ##"<text x="10" y="44" fill="#555">\##(escape("init fails after \(String(format: "%.1f", r.initMs)) ms; \(r.machine.cores) cores, \(r.machine.cpu), \(r.machine.date); speedup vs serialized \(r.speedupVsSerialized.map { String(format: "%.0f", $0) } ?? "–")×"))</text>"##,
        ]
        for exponent in Int(minLog)...Int(maxLog) {
            let ms = pow(10.0, Double(exponent))
            let label = ms >= 1000 ? "\(Int(ms / 1000)) s" : (ms >= 1 ? "\(Int(ms)) ms" : "\(ms) ms")
            svg.append(##"<line x1="\##(x(ms))" y1="\##(top - 8)" x2="\##(x(ms))" y2="\##(top + Double(bars.count) * rowHeight)" stroke="#ddd"/>"##)
            svg.append(##"<text x="\##(x(ms))" y="\##(top + Double(bars.count) * rowHeight + 18)" text-anchor="middle" fill="#555">\##(label)</text>"##)
        }
        for (index, bar) in bars.enumerated() {
            let y = top + Double(index) * rowHeight
            let value = bar.ms >= 1000 ? String(format: "%.2f s", bar.ms / 1000) : String(format: "%.2f ms", bar.ms)
            svg.append(##"<text x="\##(left - 8)" y="\##(y + 17)" text-anchor="end">\##(escape(bar.label))</text>"##)
            svg.append(##"<rect x="\##(left)" y="\##(y + 4)" width="\##(max(1, x(bar.ms) - left))" height="\##(rowHeight - 8)" fill="\##(bar.color)"/>"##)
            svg.append(##"<text x="\##(x(bar.ms) + 6)" y="\##(y + 17)">\##(value)</text>"##)
        }
        svg.append("</svg>")
        return svg.joined(separator: "\n") + "\n"
    }
}
