using System.Net;
using System.Net.Sockets;

namespace Immutable.Build.Testing;

/// <summary>Loopback ports for the servers a test starts.</summary>
public static class TestNetwork
{
    /// <summary>A TCP port on 127.0.0.1 that was free a moment ago.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
