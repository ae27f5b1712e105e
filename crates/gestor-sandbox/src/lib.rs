//! Local emulator of the Gestor Clientes Max API.
