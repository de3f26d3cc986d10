import Logging
import Metrics
import Modload
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// The Prometheus endpoint: `GET /metrics` over HTTP on the address given with `--metrics`
/// (`PORT` alone binds loopback, `127.0.0.1:PORT`), in Prometheus' text format; anything else is
/// 404. The host's counters and timers (``Modload/ModuleHost`` reports them through swift-metrics)
/// land in one registry, bootstrapped once per process; its gauges are sampled at each scrape
/// (``Modload/ModuleHost/reportGauges()``).
final class MetricsServer: Service {
    private let channel: any Channel
    private let logger: Logger

    private init(channel: any Channel, logger: Logger) {
        self.channel = channel
        self.logger = logger
    }

    /// The process's registry, the metrics system bootstrapped into it on first use (swift-metrics
    /// allows one bootstrap per process). Must run before the host is created.
    static var registry: PrometheusCollectorRegistry {
        bootstrapped.withLock { registry in
            if let registry { return registry }
            let created = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: created))
            registry = created
            return created
        }
    }
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// Binds the endpoint at `address` (`HOST:PORT` or `PORT`).
    static func bind(_ address: String, host: ModuleHost, logger: Logger) async throws(DaemonError) -> MetricsServer {
        let (name, port) = try parse(address)
        let registry = registry
        do {
            let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(ScrapeHandler(host: host, registry: registry))
                    }
                }
                .bind(host: name, port: port).get()
            logger.notice("metrics at http://\(address.contains(":") ? address : "127.0.0.1:\(address)")/metrics")
            return MetricsServer(channel: channel, logger: logger)
        } catch {
            throw DaemonError(.metrics, reason: "cannot serve metrics on \(address): \(error)")
        }
    }

    /// `HOST:PORT` or `PORT`.
    static func parse(_ address: String) throws(DaemonError) -> (host: String, port: Int) {
        let parts = address.split(separator: ":", omittingEmptySubsequences: false)
        let host = parts.count > 1 ? parts.dropLast().joined(separator: ":") : "127.0.0.1"
        guard let port = parts.last.flatMap({ Int($0) }), (1...65535).contains(port), !host.isEmpty else {
            throw DaemonError(.metrics, reason: "--metrics \(address): give PORT or HOST:PORT (e.g. 127.0.0.1:9464)")
        }
        return (host, port)
    }

    func run() async throws {
        try? await gracefulShutdown()
        try? await channel.close()
    }
}

/// Answers one scrape per request.
private final class ScrapeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let host: ModuleHost
    private let registry: PrometheusCollectorRegistry
    private var request: HTTPRequestHead?

    init(host: ModuleHost, registry: PrometheusCollectorRegistry) {
        self.host = host
        self.registry = registry
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            let found = head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?"))
            var body = context.channel.allocator.buffer(capacity: 4096)
            if found {
                host.reportGauges()
                body.writeBytes(registry.emitToBuffer())
            } else {
                body.writeString("not found: the metrics are at /metrics\n")
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain; charset=utf-8")
            headers.add(name: "Content-Length", value: "\(body.readableBytes)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: found ? .ok : .notFound, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keepAlive = head.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
