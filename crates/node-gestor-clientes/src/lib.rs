//! The gestorClientesMaxCliente node.
