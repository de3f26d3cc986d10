// hid_generic — the generic HID driver, a module file written in Swift (with the ModloadModule
// library): it claims every HID device no specific driver wants.
//
// Uses     hid_register_driver   u32()  (hid, C)
// Aliases  hid:b*g0001v*p*       (the generic group: what a plain keyboard or mouse asks for)
// Params   init_us
import Glibc
import ModloadModule

typealias Register = @convention(c) () -> UInt32

let module = ModuleDescription(
    name: "hid_generic", version: "1.0", description: "HID generic driver", license: "GPL",
    imports: [.function("hid_register_driver", as: Register.self)],
    parameters: [.int("init_us", default: 0, description: "how long init waits for its device, in microseconds")],
    aliases: ["hid:b*g0001v*p*"]
) { host in
    guard let register = host.symbol("hid_register_driver", as: Register.self) else { throw ModuleFailure.noDevice }
    _ = register()
    let microseconds = host.int("init_us") ?? 0
    if microseconds > 0 { usleep(UInt32(clamping: microseconds)) }
}

@_cdecl("modload_module_descriptor_v2")
public func modloadModuleDescriptor() -> UnsafeRawPointer { module.descriptor }
