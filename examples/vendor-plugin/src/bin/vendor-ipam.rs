//! The plugin binary a vendor ships.

fn main() {
    cni::skel::plugin_main(vendor_ipam_example::VendorIpam { broken_del: false })
}
