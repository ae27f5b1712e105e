//! The whole plugin executable: a node, served over stdio.

fn main() -> std::process::ExitCode {
    nodehost_plugin::PluginServer::new("cpf-tools", env!("CARGO_PKG_VERSION"))
        .node(cpf_tools_plugin::CpfTools)
        .main()
}
