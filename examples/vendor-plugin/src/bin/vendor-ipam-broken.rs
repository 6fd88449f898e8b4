//! The same plugin with a deliberate bug: a second DEL of an attachment fails (DEL-6), for the
//! test that shows certification catches it.

fn main() {
    cni::skel::plugin_main(vendor_ipam_example::VendorIpam { broken_del: true })
}
