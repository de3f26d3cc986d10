/// The interface every varlink service implements, `org.varlink.service`: who the service is and
/// the definitions of its interfaces, and the protocol-level errors.
public enum ServiceInterface {
    /// The interface's qualified name.
    public static let name = "org.varlink.service"

    /// Its definition, as the varlink specification gives it.
    public static let definition = """
        # The Varlink Service Interface is provided by every varlink service. It
        # describes the service and the interfaces it implements.
        interface org.varlink.service

        # Get a list of all the interfaces a service provides and information
        # about the implementation.
        method GetInfo() -> (
          vendor: string,
          product: string,
          version: string,
          url: string,
          interfaces: []string
        )

        # Get the description of an interface that is implemented by this service.
        method GetInterfaceDescription(interface: string) -> (description: string)

        # The requested interface was not found.
        error InterfaceNotFound (interface: string)

        # The requested method was not found
        error MethodNotFound (method: string)

        # The interface defines the requested method, but the service does not
        # implement it.
        error MethodNotImplemented (method: string)

        # One of the passed parameters is invalid.
        error InvalidParameter (parameter: string)

        """

    /// GetInfo's reply.
    public struct Info: Codable, Sendable, Equatable {
        /// Who makes the service.
        public var vendor: String
        /// The service.
        public var product: String
        /// Its version.
        public var version: String
        /// Where to read about it (empty: the interface descriptions are the reference).
        public var url: String
        /// The interfaces it implements.
        public var interfaces: [String]

        /// A service's description.
        public init(vendor: String, product: String, version: String, url: String, interfaces: [String]) {
            self.vendor = vendor
            self.product = product
            self.version = version
            self.url = url
            self.interfaces = interfaces
        }
    }

    /// GetInterfaceDescription's parameters.
    public struct DescriptionParameters: Codable, Sendable, Equatable {
        /// An interface name.
        public var interface: String
        /// An interface name.
        public init(interface: String) { self.interface = interface }
    }

    /// GetInterfaceDescription's reply.
    public struct Description: Codable, Sendable, Equatable {
        /// The interface definition, in the varlink IDL.
        public var description: String
        /// A definition.
        public init(description: String) { self.description = description }
    }
}

extension VarlinkError {
    /// `org.varlink.service.InterfaceNotFound`.
    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError(name: "\(ServiceInterface.name).InterfaceNotFound", parameters: ["interface": interface])
    }

    /// `org.varlink.service.MethodNotFound`.
    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError(name: "\(ServiceInterface.name).MethodNotFound", parameters: ["method": method])
    }

    /// `org.varlink.service.MethodNotImplemented`.
    public static func methodNotImplemented(_ method: String) -> VarlinkError {
        VarlinkError(name: "\(ServiceInterface.name).MethodNotImplemented", parameters: ["method": method])
    }

    /// `org.varlink.service.InvalidParameter`.
    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError(name: "\(ServiceInterface.name).InvalidParameter", parameters: ["parameter": parameter])
    }
}
