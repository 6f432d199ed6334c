#!/usr/bin/python3
"""Throwaway Modbus server for the integration tests (Debian python3-pymodbus 3.0).

usage: simulator.py '<json>'  with json = {"port": 5020, "framer": "socket"|"rtu"|"serial",
  "unit": 1, "holding": [words...], "input": [words...], "tick": <holding address to increment every 100 ms>|null}

Addressing: pymodbus's ModbusSlaveContext (zero_mode=False) adds 1 to every request address
before it reads the data block, so the blocks here start at 1: protocol address A (0-based,
as on the wire) then reads list element A. The tests check this against known words.

framer "serial": a real serial line on pseudo-terminals. Two pty pairs are opened and their
master sides relayed to each other (what `socat pty,raw pty,raw` does); the server serves RTU
on the first slave, and the second slave's path is printed ("serial /dev/pts/N") for the client.
"""
import asyncio
import json
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer, ModbusSocketFramer

cfg = json.loads(sys.argv[1])
holding = ModbusSequentialDataBlock(1, cfg.get("holding", [0]))
inputs = ModbusSequentialDataBlock(1, cfg.get("input", [0]))
slave = ModbusSlaveContext(hr=holding, ir=inputs, co=ModbusSequentialDataBlock(1, [0]), di=ModbusSequentialDataBlock(1, [0]))
context = ModbusServerContext(slaves={cfg.get("unit", 1): slave}, single=False)
framer = ModbusRtuFramer if cfg.get("framer") == "rtu" else ModbusSocketFramer


async def ticker(addr):
    while True:
        await asyncio.sleep(0.1)
        v = slave.getValues(3, addr, 1)[0]
        slave.setValues(3, addr, [(v + 1) & 0xFFFF])


def pty_pair():
    import os
    import select
    import threading
    import tty

    m1, s1 = os.openpty()
    m2, s2 = os.openpty()
    for fd in (s1, s2):
        tty.setraw(fd)

    def relay():
        while True:
            r, _, _ = select.select([m1, m2], [], [])
            for src in r:
                try:
                    data = os.read(src, 4096)
                except OSError:
                    continue
                os.write(m2 if src == m1 else m1, data)

    threading.Thread(target=relay, daemon=True).start()
    return os.ttyname(s1), os.ttyname(s2), (s1, s2)


async def main():
    if cfg.get("tick") is not None:
        asyncio.ensure_future(ticker(cfg["tick"]))
    if cfg.get("framer") == "serial":
        from pymodbus.server import StartAsyncSerialServer
        server_path, client_path, keep = pty_pair()
        print("serial", client_path, flush=True)
        print("listening", flush=True)
        await StartAsyncSerialServer(context, framer=ModbusRtuFramer, port=server_path, baudrate=9600, timeout=0.05)
        return
    print("listening", flush=True)
    await StartAsyncTcpServer(context, address=("127.0.0.1", cfg["port"]), framer=framer, allow_reuse_address=True)


asyncio.run(main())
