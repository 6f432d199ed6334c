#!/usr/bin/python3
"""Throwaway Modbus server for the integration tests (Debian python3-pymodbus 3.0).

usage: pymodbus-server.py '<json>'  with json = {"port": 5020, "framer": "socket"|"rtu",
  "unit": 1, "holding": [words...], "input": [words...], "tick": <holding address to increment every 100 ms>|null}

Addressing: pymodbus's ModbusSlaveContext (zero_mode=False) adds 1 to every request address
before it reads the data block, so the blocks here start at 1: protocol address A (0-based,
as on the wire) then reads list element A. The tests check this against known words.
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


async def main():
    if cfg.get("tick") is not None:
        asyncio.ensure_future(ticker(cfg["tick"]))
    print("listening", flush=True)
    await StartAsyncTcpServer(context, address=("127.0.0.1", cfg["port"]), framer=framer, allow_reuse_address=True)


asyncio.run(main())
